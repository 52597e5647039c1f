//! Reading the table files: the embedded defaults, a site's folder laid over them, and the CSV
//! rows of each file with their line numbers.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, ErrorKind};

include!(concat!(env!("OUT_DIR"), "/default_mappings.rs"));

/// A set of table files, keyed by path relative to the mapping folder (`segments/PID[Patient].csv`).
#[derive(Debug, Clone)]
pub struct TableSet {
    files: BTreeMap<String, String>,
}

impl TableSet {
    /// The tables compiled into this build (the project's `mappings/` folder).
    pub fn embedded() -> TableSet {
        TableSet {
            files: DEFAULT_TABLES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The embedded tables with the `.csv` files under `dir` laid over them: a file with the
    /// same relative path replaces the default one, a new file is added.
    pub fn with_overrides(dir: &Path) -> Result<TableSet, Error> {
        let mut set = TableSet::embedded();
        if !dir.is_dir() {
            return Err(Error::new(
                ErrorKind::Mapping,
                format!("mapping folder {} does not exist", dir.display()),
            ));
        }
        set.read_dir(dir, dir)?;
        Ok(set)
    }

    fn read_dir(&mut self, dir: &Path, root: &Path) -> Result<(), Error> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Error::new(
                ErrorKind::Mapping,
                format!("reading {}: {e}", dir.display()),
            )
        })?;
        for entry in entries {
            let path = entry
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Mapping,
                        format!("reading {}: {e}", dir.display()),
                    )
                })?
                .path();
            if path.is_dir() {
                self.read_dir(&path, root)?;
            } else if path.extension().is_some_and(|x| x == "csv") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::new(
                        ErrorKind::Mapping,
                        format!("reading {}: {e}", path.display()),
                    )
                    .in_table(rel.clone(), 0)
                })?;
                self.files.insert(rel, text);
            }
        }
        Ok(())
    }

    /// Adds or replaces one file (for tests and for gateways that keep tables elsewhere).
    pub fn insert(&mut self, path: &str, text: &str) {
        self.files.insert(path.to_string(), text.to_string());
    }

    /// The text of a file.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Every file path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

/// One data row: its 1-based line in the file, and its cells in the order the caller asked for
/// the columns.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub line: u32,
    pub cells: Vec<String>,
}

impl Row {
    /// Cell `i`, trimmed.
    pub fn cell(&self, i: usize) -> &str {
        self.cells.get(i).map_or("", |s| s.trim())
    }
}

/// Reads the rows of a CSV table whose header must name exactly `columns` (in any order).
pub(crate) fn read_rows(file: &str, text: &str, columns: &[&str]) -> Result<Vec<Row>, Error> {
    let err = |line: u32, msg: String| {
        Error::new(ErrorKind::Mapping, msg).in_table(file.to_string(), line)
    };
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| err(1, format!("unreadable header: {e}")))?
        .clone();
    let header_line = text
        .lines()
        .position(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map_or(1, |i| i as u32 + 1);
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let mut order = Vec::with_capacity(columns.len());
    for c in columns {
        match names.iter().position(|n| n == c) {
            Some(i) => order.push(i),
            None => {
                return Err(err(
                    header_line,
                    format!("missing column `{c}` (columns: {})", columns.join(",")),
                ));
            }
        }
    }
    if let Some(extra) = names.iter().find(|n| !columns.contains(n)) {
        return Err(err(
            header_line,
            format!("unknown column `{extra}` (columns: {})", columns.join(",")),
        ));
    }
    // The reader's own line count skips blank lines; count newlines up to the record's byte
    // offset instead, so the line an error names is the line an editor shows.
    // A record's position can point at the blank and comment lines before it; skip those.
    let line_at = |byte: u64| {
        let bytes = text.as_bytes();
        let mut at = (byte as usize).min(bytes.len());
        loop {
            match bytes.get(at) {
                Some(b'\r' | b'\n') => at += 1,
                Some(b'#') => {
                    at += bytes[at..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .unwrap_or(bytes.len() - at)
                }
                _ => break,
            }
        }
        1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u32
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            err(
                e.position().map_or(0, |p| line_at(p.byte())),
                format!("malformed row: {e}"),
            )
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != names.len() {
            return Err(err(
                line,
                format!(
                    "row has {} cells, the header has {}",
                    record.len(),
                    names.len()
                ),
            ));
        }
        rows.push(Row {
            line,
            cells: order
                .iter()
                .map(|&i| record.get(i).unwrap_or("").to_string())
                .collect(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_errors() {
        let text = "# comment\na,b\n1,\"x,y\"\n\n2,z\n# another\n\n3,w\n";
        let rows = read_rows("t.csv", text, &["b", "a"]).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].line, rows[0].cell(0), rows[0].cell(1)),
            (3, "x,y", "1")
        );
        assert_eq!(rows[1].line, 5);
        assert_eq!(rows[2].line, 8);
        let cases: &[(&str, &str)] = &[
            ("a\n1\n", "t.csv:1: missing column `b` (columns: a,b)"),
            (
                "a,b,c\n1,2,3\n",
                "t.csv:1: unknown column `c` (columns: a,b)",
            ),
            (
                "a,b\n1,2\n3\n",
                "t.csv:3: row has 1 cells, the header has 2",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                read_rows("t.csv", text, &["a", "b"])
                    .unwrap_err()
                    .to_string(),
                *want
            );
        }
    }
}
