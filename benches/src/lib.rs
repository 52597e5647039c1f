//! Generators of realistic HL7 v2 traffic shared by the benches.
//!
//! [`Corpus::generate`] writes a deterministic mix of ADT (A01, A03, A04, A08), ORU^R01,
//! SIU^S12 and DFT^P03 messages from a seed, so every run of every benchmark sees the same
//! bytes. The data is synthetic (made-up names, addresses and identifiers) but shaped like a
//! hospital feed: repeated identifiers with `HOSP&1.2.3&ISO` assigning authorities, repeated
//! names, addresses and phone numbers, escape sequences in free text, runs of empty fields, CR
//! segment ends, and MSH-18 `UNICODE UTF-8` on 40% of the messages (the only ones with
//! non-ASCII names).
//!
//! [`Corpus::standard`] is the corpus the benches and the ratio tool use. [`workloads`] holds
//! what each hl7fhir benchmark does with it and [`baseline`] the plain byte scans it is
//! compared with.

pub mod baseline;
pub mod criterion_files;
pub mod workloads;

use std::fmt::Write as _;

/// Seed of [`Corpus::standard`].
pub const STANDARD_SEED: u64 = 0x4C37_2024_0312_0815;

/// Number of messages in [`Corpus::standard`]: about 1.3 MB, so a pass stays in the last-level
/// cache and the benches measure parsing, not memory bandwidth.
pub const STANDARD_COUNT: usize = 500;

/// A xorshift64* generator: tiny, deterministic across platforms, good enough to pick data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`; a zero seed is replaced because xorshift never leaves zero.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        // The high bits of xorshift64* are the good ones; the modulo bias is irrelevant here.
        lo + ((self.next_u64() >> 32) % u64::from(hi - lo + 1)) as u32
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.range(0, 99) < percent
    }

    /// A copy of one element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u32 - 1) as usize]
    }
}

/// The message types the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// ADT^A01 admit.
    AdtA01,
    /// ADT^A03 discharge.
    AdtA03,
    /// ADT^A04 register an outpatient.
    AdtA04,
    /// ADT^A08 update patient information.
    AdtA08,
    /// ORU^R01 lab results, 5–30 OBX with NTE.
    OruR01,
    /// SIU^S12 new appointment.
    SiuS12,
    /// DFT^P03 charges (FT1 segments).
    DftP03,
}

impl Kind {
    /// All kinds, in the order the mix table lists them.
    pub const ALL: [Kind; 7] = [
        Kind::AdtA01,
        Kind::AdtA03,
        Kind::AdtA04,
        Kind::AdtA08,
        Kind::OruR01,
        Kind::SiuS12,
        Kind::DftP03,
    ];

    /// MSH-9 as written.
    pub fn msh9(self) -> &'static str {
        match self {
            Kind::AdtA01 => "ADT^A01^ADT_A01",
            Kind::AdtA03 => "ADT^A03^ADT_A03",
            Kind::AdtA04 => "ADT^A04^ADT_A01",
            Kind::AdtA08 => "ADT^A08^ADT_A01",
            Kind::OruR01 => "ORU^R01^ORU_R01",
            Kind::SiuS12 => "SIU^S12^SIU_S12",
            Kind::DftP03 => "DFT^P03^DFT_P03",
        }
    }

    /// MSH-3, the sending application.
    fn sender(self) -> &'static str {
        match self {
            Kind::AdtA01 | Kind::AdtA03 | Kind::AdtA04 | Kind::AdtA08 => "EPICADT",
            Kind::OruR01 => "CERNLAB",
            Kind::SiuS12 => "SCHEDPRO",
            Kind::DftP03 => "CHGMASTER",
        }
    }

    /// The mix of a typical interface engine's inbound feed, in percent, in [`Kind::ALL`]
    /// order.
    pub const MIX: [u32; 7] = [14, 8, 13, 17, 28, 10, 10];

    /// `count` kinds in [`Kind::MIX`] proportions (rounded down; the rest are ORU), shuffled.
    /// Fixed proportions keep the corpus's size and shape from drifting with the seed.
    fn schedule(rng: &mut Rng, count: usize) -> Vec<Kind> {
        let mut kinds = Vec::with_capacity(count);
        for (kind, pct) in Kind::ALL.iter().zip(Kind::MIX) {
            kinds.extend(std::iter::repeat_n(*kind, count * pct as usize / 100));
        }
        kinds.resize(count, Kind::OruR01);
        for i in (1..kinds.len()).rev() {
            kinds.swap(i, rng.range(0, i as u32) as usize);
        }
        kinds
    }
}

/// A generated corpus: the messages back to back in one buffer, and where each one ends.
#[derive(Debug, Clone)]
pub struct Corpus {
    bytes: Vec<u8>,
    /// `ends[i]` is the end of message `i`; message `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<usize>,
    kinds: Vec<Kind>,
}

impl Corpus {
    /// The corpus every bench uses: [`STANDARD_COUNT`] messages from [`STANDARD_SEED`].
    pub fn standard() -> Corpus {
        Corpus::generate(STANDARD_SEED, STANDARD_COUNT)
    }

    /// `count` messages generated from `seed`; the same arguments give the same bytes.
    ///
    /// ```
    /// let corpus = hl7fhir_benches::Corpus::generate(1, 10);
    /// let messages = corpus.messages();
    /// assert_eq!(messages.len(), 10);
    /// assert!(messages.iter().all(|m| m.starts_with(b"MSH|^~\\&|") && m.ends_with(b"\r")));
    /// ```
    pub fn generate(seed: u64, count: usize) -> Corpus {
        let mut g = Gen {
            rng: Rng::new(seed),
            out: String::with_capacity(count * 2800),
            control: 0,
        };
        let mut ends = Vec::with_capacity(count);
        let mut kinds = Vec::with_capacity(count);
        for kind in Kind::schedule(&mut g.rng, count) {
            g.message(kind);
            ends.push(g.out.len());
            kinds.push(kind);
        }
        Corpus {
            bytes: g.out.into_bytes(),
            ends,
            kinds,
        }
    }

    /// All messages concatenated (each ends with its last segment's CR).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The messages, each a slice of [`Corpus::bytes`].
    pub fn messages(&self) -> Vec<&[u8]> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let m = &self.bytes[start..end];
                start = end;
                m
            })
            .collect()
    }

    /// The type of each message, in order.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the corpus has no messages.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Mean message size in bytes.
    pub fn mean_message_bytes(&self) -> f64 {
        self.bytes.len() as f64 / self.len().max(1) as f64
    }
}

const FAMILY: &[&str] = &[
    "Hartwell",
    "Okonkwo",
    "Lindqvist",
    "Baptiste",
    "Marchetti",
    "Castellanos",
    "Thornbury",
    "Vasquez",
    "Abernathy",
    "Nakagawa",
    "Pemberton",
    "Oyelaran",
    "Kowalczyk",
    "Delacroix",
    "Fairbanks",
    "Raghunathan",
    "Whitlock",
    "Quintero",
    "Brannigan",
    "Sorensen",
];
/// Family names for messages that declare UTF-8.
const FAMILY_UTF8: &[&str] = &[
    "Müllerson",
    "Nuñezca",
    "Ødegårdsen",
    "Çelikkan",
    "Brontë-Vale",
];
const GIVEN: &[&str] = &[
    "Amelia", "Tobias", "Priya", "Marcus", "Ingrid", "Desmond", "Yara", "Felix", "Rosalind",
    "Kwame", "Beatrix", "Ezra", "Leonie", "Anton", "Mirela", "Silas", "Odette", "Ravi",
];
const GIVEN_UTF8: &[&str] = &["Zoë", "Jürgen", "Inés", "Søren", "Agnès"];
const STREET: &[&str] = &[
    "Maple Crest Rd",
    "Harbor View Ave",
    "Old Mill Ln",
    "Juniper Ct",
    "Lakeshore Blvd",
    "Cedar Hollow Dr",
    "Prospect St",
    "Windmere Way",
    "Quarry Rd",
    "Orchard Pl",
];
const CITY: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "62701"),
    ("Riverton", "WY", "82501"),
    ("Fairhaven", "MA", "02719"),
    ("Lakeside", "OH", "43440"),
    ("Millbrook", "NY", "12545"),
    ("Cedar Falls", "IA", "50613"),
];
const DOCTOR: &[(&str, &str, &str)] = &[
    ("1043", "Welbourne", "Harriet"),
    ("2210", "Kildaire", "Joseph"),
    ("3377", "Abara", "Nkem"),
    ("4581", "Fitzgerald", "Orla"),
    ("5902", "Tanaka", "Hiro"),
    ("6618", "Sandoval", "Lucia"),
];
const UNITS: &[(&str, &str)] = &[
    ("4W", "MED"),
    ("5E", "SUR"),
    ("ICU", "MED"),
    ("2N", "CAR"),
    ("ER", "EMR"),
    ("3S", "ONC"),
];
/// LOINC code, name, value range, decimals, units, reference range.
const TESTS: &[(&str, &str, u32, u32, u32, &str, &str)] = &[
    (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        120,
        320,
        0,
        "mg/dL",
        "<200",
    ),
    (
        "2571-8",
        "Triglyceride [Mass/volume] in Serum or Plasma",
        40,
        400,
        0,
        "mg/dL",
        "<150",
    ),
    (
        "2085-9",
        "HDL Cholesterol [Mass/volume] in Serum or Plasma",
        25,
        95,
        0,
        "mg/dL",
        ">40",
    ),
    (
        "13457-7",
        "LDL Cholesterol [Mass/volume] in Serum or Plasma by calculation",
        50,
        220,
        0,
        "mg/dL",
        "<100",
    ),
    (
        "2345-7",
        "Glucose [Mass/volume] in Serum or Plasma",
        60,
        300,
        0,
        "mg/dL",
        "70-99",
    ),
    (
        "2951-2",
        "Sodium [Moles/volume] in Serum or Plasma",
        128,
        150,
        0,
        "mmol/L",
        "136-145",
    ),
    (
        "2823-3",
        "Potassium [Moles/volume] in Serum or Plasma",
        30,
        60,
        1,
        "mmol/L",
        "3.5-5.1",
    ),
    (
        "2075-0",
        "Chloride [Moles/volume] in Serum or Plasma",
        92,
        112,
        0,
        "mmol/L",
        "98-107",
    ),
    (
        "2028-9",
        "Carbon dioxide, total [Moles/volume] in Serum or Plasma",
        18,
        32,
        0,
        "mmol/L",
        "22-29",
    ),
    (
        "3094-0",
        "Urea nitrogen [Mass/volume] in Serum or Plasma",
        5,
        60,
        0,
        "mg/dL",
        "7-20",
    ),
    (
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        5,
        30,
        1,
        "mg/dL",
        "0.6-1.3",
    ),
    (
        "17861-6",
        "Calcium [Mass/volume] in Serum or Plasma",
        80,
        110,
        1,
        "mg/dL",
        "8.6-10.3",
    ),
    (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        7,
        120,
        0,
        "U/L",
        "7-56",
    ),
    (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        8,
        110,
        0,
        "U/L",
        "8-48",
    ),
    (
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        90,
        180,
        1,
        "g/dL",
        "13.5-17.5",
    ),
    (
        "4544-3",
        "Hematocrit [Volume Fraction] of Blood by Automated count",
        300,
        540,
        1,
        "%",
        "41-53",
    ),
    (
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        30,
        180,
        1,
        "10*3/uL",
        "4.5-11.0",
    ),
    (
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        120,
        450,
        0,
        "10*3/uL",
        "150-400",
    ),
    (
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        45,
        120,
        1,
        "%",
        "<5.7",
    ),
];
const PANELS: &[(&str, &str)] = &[
    ("24331-1", "Lipid 1996 panel - Serum or Plasma"),
    (
        "24323-8",
        "Comprehensive metabolic 2000 panel - Serum or Plasma",
    ),
    ("58410-2", "CBC panel - Blood by Automated count"),
    ("51990-0", "Basic metabolic panel - Blood"),
];
/// Free text as senders write it, escapes included: `\F\ \S\ \T\ \R\ \E\` stand for
/// `| ^ & ~ \`, `\X0D\` is a CR and `\.br\` a line break.
const NOTES: &[&str] = &[
    "Specimen received on ice.\\.br\\Mild hemolysis noted; potassium may be falsely elevated.",
    "Result verified by K. Lindgren \\T\\ P. Osei.",
    "Patient fasting 12 hours per requisition.",
    "Ratio total\\S\\HDL reported for risk assessment.",
    "Values marked \\R\\ are approximate.",
    "Full report filed under \\E\\\\E\\labshare\\E\\2024\\E\\lipids.",
    "Reference interval source: in-house \\F\\ manufacturer insert.",
    "Called to Dr. Welbourne at 09:42.\\X0D\\Read back and confirmed.",
    "Repeat testing recommended in 3 months.",
    "Sample collected by venipuncture, left antecubital.",
    "Interpretation:\\.br\\Desirable < 200 mg/dL\\.br\\Borderline 200-239 mg/dL\\.br\\High >= 240 mg/dL",
    "",
];
const ALLERGENS: &[(&str, &str, &str)] = &[
    ("70618", "Penicillin", "Hives\\.br\\Shortness of breath"),
    ("2670", "Codeine", "Nausea"),
    ("1191", "Aspirin", "GI upset"),
    ("227493", "Peanut", "Anaphylaxis"),
    ("10180", "Latex", "Contact dermatitis"),
];
const DIAGNOSES: &[(&str, &str)] = &[
    ("I10", "Essential (primary) hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("J18.9", "Pneumonia, unspecified organism"),
    ("N39.0", "Urinary tract infection, site not specified"),
    ("R07.9", "Chest pain, unspecified"),
];
const PROCEDURES: &[(&str, &str, u32)] = &[
    (
        "99213",
        "Office or other outpatient visit, established patient",
        12500,
    ),
    ("80061", "Lipid panel", 4800),
    (
        "85025",
        "Complete blood count with automated differential",
        3200,
    ),
    ("71046", "Radiologic examination, chest; 2 views", 15400),
    (
        "93000",
        "Electrocardiogram, routine with interpretation",
        6100,
    ),
    ("36415", "Collection of venous blood by venipuncture", 1000),
];
const PAYERS: &[(&str, &str)] = &[
    ("BCX01", "Bluecrest Health Plan"),
    ("UNV22", "Univera Mutual \\T\\ Casualty"),
    ("MCR00", "Medicare Part B"),
];

/// Writes messages into one string.
struct Gen {
    rng: Rng,
    out: String,
    control: u32,
}

/// One segment's fields, numbered from 1; unset fields are written empty.
struct Seg {
    id: &'static str,
    fields: Vec<String>,
}

impl Seg {
    fn new(id: &'static str) -> Seg {
        Seg {
            id,
            fields: Vec::new(),
        }
    }

    /// Sets field `n` (counting from 1).
    fn f(mut self, n: usize, value: impl Into<String>) -> Seg {
        if self.fields.len() < n {
            self.fields.resize(n, String::new());
        }
        self.fields[n - 1] = value.into();
        self
    }
}

/// The person a message is about.
struct Patient {
    family: &'static str,
    given: &'static str,
    mrn: u32,
    account: u32,
    visit: u32,
    dob: String,
    sex: &'static str,
    unit: (&'static str, &'static str),
    room: u32,
    doctor: (&'static str, &'static str, &'static str),
}

impl Gen {
    fn write(&mut self, seg: Seg) {
        self.out.push_str(seg.id);
        for f in &seg.fields {
            self.out.push('|');
            self.out.push_str(f);
        }
        self.out.push('\r');
    }

    /// `YYYYMMDDHHMMSS`, with a zone offset on about half the timestamps as senders vary.
    fn ts(&mut self) -> String {
        let r = &mut self.rng;
        let mut s = format!(
            "2024{:02}{:02}{:02}{:02}{:02}",
            r.range(1, 12),
            r.range(1, 28),
            r.range(0, 23),
            r.range(0, 59),
            r.range(0, 59)
        );
        if r.chance(50) {
            s.push_str("-0500");
        }
        s
    }

    fn doctor_xcn(d: (&str, &str, &str)) -> String {
        format!("{}^{}^{}^^^Dr^MD^^HOSP&1.2.3&ISO^L^^^NPI", d.0, d.1, d.2)
    }

    fn message(&mut self, kind: Kind) {
        let utf8 = self.rng.chance(40);
        let patient = self.patient(utf8);
        self.control += 1;
        let now = self.ts();
        let msh = Seg::new("MSH")
            .f(2, "^~\\&")
            .f(3, kind.sender())
            .f(4, "HOSP^1.2.3^ISO")
            .f(5, "HL7FHIR")
            .f(6, "INTEGRATION")
            .f(7, now.clone())
            .f(9, kind.msh9())
            .f(10, format!("MSG{:08}", self.control))
            .f(11, "P")
            .f(12, "2.5.1")
            .f(15, "AL")
            .f(16, "NE");
        let msh = if utf8 {
            msh.f(18, "UNICODE UTF-8")
        } else {
            msh
        };
        // The generic writer puts a `|` before field 1, which for MSH *is* field 1.
        self.out.push_str("MSH|");
        self.out.push_str(&msh.fields[1..].join("|"));
        self.out.push('\r');
        match kind {
            Kind::AdtA01 | Kind::AdtA08 => self.adt(&patient, kind, &now, true),
            Kind::AdtA03 | Kind::AdtA04 => self.adt(&patient, kind, &now, false),
            Kind::OruR01 => self.oru(&patient),
            Kind::SiuS12 => self.siu(&patient),
            Kind::DftP03 => self.dft(&patient, &now),
        }
    }

    fn patient(&mut self, utf8: bool) -> Patient {
        let r = &mut self.rng;
        let (family, given) = if utf8 && r.chance(50) {
            (r.pick(FAMILY_UTF8), r.pick(GIVEN_UTF8))
        } else {
            (r.pick(FAMILY), r.pick(GIVEN))
        };
        Patient {
            family,
            given,
            mrn: r.range(1_000_000, 9_999_999),
            account: r.range(10_000_000, 99_999_999),
            visit: r.range(100_000, 999_999),
            dob: format!(
                "{}{:02}{:02}",
                r.range(1930, 2020),
                r.range(1, 12),
                r.range(1, 28)
            ),
            sex: r.pick(&["M", "F", "F", "M", "U"]),
            unit: r.pick(UNITS),
            room: r.range(100, 699),
            doctor: r.pick(DOCTOR),
        }
    }

    fn evn(&mut self, kind: Kind, now: &str) {
        let event = &kind.msh9()[4..7];
        let clerk = self.rng.pick(DOCTOR);
        self.write(Seg::new("EVN").f(1, event).f(2, now).f(
            5,
            format!("{}^{}^{}^^^^^^HOSP&1.2.3&ISO", clerk.0, clerk.1, clerk.2),
        ));
    }

    fn pid(&mut self, p: &Patient) {
        let r = &mut self.rng;
        let mut ids = format!("{}^^^HOSP&1.2.3&ISO^MR", p.mrn);
        if r.chance(70) {
            let _ = write!(
                ids,
                "~{:03}-{:02}-{:04}^^^SSA&2.16.840.1.113883.4.1&ISO^SS",
                r.range(100, 899),
                r.range(10, 99),
                r.range(1000, 9999)
            );
        }
        if r.chance(60) {
            let _ = write!(
                ids,
                "~P{}^^^CLINIC&1.2.3.4.5&ISO^PI",
                r.range(10_000, 99_999)
            );
        }
        if r.chance(30) {
            let _ = write!(
                ids,
                "~S{}^^^ILDMV&2.16.840.1.113883.4.3.17&ISO^DL",
                r.range(100_000_000, 999_999_999)
            );
        }
        let middle = (b'A' + r.range(0, 25) as u8) as char;
        let mut names = format!("{}^{}^{}^^^^L", p.family, p.given, middle);
        if r.chance(35) {
            let nickname: String = p.given.chars().take(3).collect();
            let _ = write!(names, "~{}^{nickname}^^^^^N", p.family);
        }
        if r.chance(20) {
            let _ = write!(names, "~{}^{}^^^^^M", r.pick(FAMILY), p.given);
        }
        let (city, state, zip) = r.pick(CITY);
        let mut addr = format!(
            "{} {}^Apt {}^{}^{}^{}^USA^H",
            r.range(1, 9999),
            r.pick(STREET),
            r.range(1, 40),
            city,
            state,
            zip
        );
        if r.chance(40) {
            let _ = write!(
                addr,
                "~PO Box {}^^{}^{}^{}^USA^M",
                r.range(1, 999),
                city,
                state,
                zip
            );
        }
        let area = r.range(201, 989);
        let mut phones = format!("^PRN^PH^^1^{area}^{}", r.range(2_000_000, 9_999_999));
        if r.chance(60) {
            let _ = write!(
                phones,
                "~^PRN^CP^^1^{area}^{}",
                r.range(2_000_000, 9_999_999)
            );
        }
        // Mailbox names stay ASCII, as most mail systems still require.
        if r.chance(50) && p.given.is_ascii() && p.family.is_ascii() {
            let _ = write!(
                phones,
                "~^NET^Internet^{}.{}@example.org",
                p.given.to_ascii_lowercase(),
                p.family.to_ascii_lowercase()
            );
        }
        let work = if r.chance(50) {
            format!(
                "^WPN^PH^^1^{area}^{}^{}",
                r.range(2_000_000, 9_999_999),
                r.range(100, 999)
            )
        } else {
            String::new()
        };
        let married = r.pick(&[
            "M^Married^HL70002",
            "S^Single^HL70002",
            "W^Widowed^HL70002",
            "",
        ]);
        let seg = Seg::new("PID")
            .f(1, "1")
            .f(3, ids)
            .f(5, names)
            .f(6, format!("{}^^^^^^M", r.pick(FAMILY)))
            .f(7, p.dob.clone())
            .f(8, p.sex)
            .f(10, "2106-3^White^CDCREC")
            .f(11, addr)
            .f(13, phones)
            .f(14, work)
            .f(15, "en^English^ISO639")
            .f(16, married)
            .f(18, format!("{}^^^HOSP&1.2.3&ISO^AN", p.account))
            .f(22, "2186-5^Not Hispanic or Latino^CDCREC");
        self.write(seg);
    }

    fn pv1(&mut self, p: &Patient, class: &str, discharged: bool) {
        let admit = self.ts();
        let r = &mut self.rng;
        let referring = r.pick(DOCTOR);
        let mut seg = Seg::new("PV1")
            .f(1, "1")
            .f(2, class)
            .f(
                3,
                format!(
                    "{}^{}^{}^HOSP&1.2.3&ISO^^^^^{} Ward",
                    p.unit.0,
                    p.room,
                    r.pick(&["A", "B"]),
                    p.unit.0
                ),
            )
            .f(4, r.pick(&["E", "U", "R", "EL"]))
            .f(7, Gen::doctor_xcn(p.doctor))
            .f(8, Gen::doctor_xcn(referring))
            .f(10, p.unit.1)
            .f(14, r.pick(&["1", "7", "9"]))
            .f(17, Gen::doctor_xcn(p.doctor))
            .f(18, r.pick(&["IP", "OP", "ER"]))
            .f(19, format!("V{}^^^HOSP&1.2.3&ISO^VN", p.visit))
            .f(20, r.pick(&["CO", "SP", "MC"]))
            .f(44, admit);
        if discharged {
            seg = seg.f(36, "01^Discharged to home^HL70112").f(45, self.ts());
        }
        self.write(seg);
    }

    fn adt(&mut self, p: &Patient, kind: Kind, now: &str, full: bool) {
        self.evn(kind, now);
        self.pid(p);
        if full || kind == Kind::AdtA04 {
            self.write(
                Seg::new("PD1")
                    .f(3, "Lakeside Family Practice^^4411")
                    .f(4, Gen::doctor_xcn(p.doctor)),
            );
            for i in 1..=self.rng.range(1, 2) {
                let (city, state, zip) = self.rng.pick(CITY);
                let rel = self.rng.pick(&[
                    "SPO^Spouse^HL70063",
                    "CHD^Child^HL70063",
                    "PAR^Parent^HL70063",
                ]);
                let family = if self.rng.chance(70) {
                    p.family
                } else {
                    self.rng.pick(FAMILY)
                };
                let given = self.rng.pick(GIVEN);
                let phone = self.rng.range(2_000_000, 9_999_999);
                let street = self.rng.pick(STREET);
                self.write(
                    Seg::new("NK1")
                        .f(1, i.to_string())
                        .f(2, format!("{family}^{given}^^^^^L"))
                        .f(3, rel)
                        .f(
                            4,
                            format!("{} {street}^^{city}^{state}^{zip}^USA^H", i * 17),
                        )
                        .f(5, format!("^PRN^PH^^1^555^{phone}"))
                        .f(7, "EC^Emergency Contact^HL70131"),
                );
            }
        }
        let class = match kind {
            Kind::AdtA04 => "O",
            _ => self.rng.pick(&["I", "I", "E"]),
        };
        self.pv1(p, class, kind == Kind::AdtA03);
        if full {
            let reason = self.rng.pick(DIAGNOSES).1;
            let expected = self.ts();
            self.write(Seg::new("PV2").f(3, format!("^{reason}")).f(8, expected).f(
                12,
                "Admitted via emergency department \\T\\ transferred to ward",
            ));
            let height = self.rng.range(150, 195);
            let weight = self.rng.range(48, 130);
            self.write(
                Seg::new("OBX")
                    .f(1, "1")
                    .f(2, "NM")
                    .f(3, "8302-2^Body height^LN")
                    .f(5, height.to_string())
                    .f(6, "cm^centimeter^UCUM")
                    .f(11, "F"),
            );
            self.write(
                Seg::new("OBX")
                    .f(1, "2")
                    .f(2, "NM")
                    .f(3, "29463-7^Body weight^LN")
                    .f(5, weight.to_string())
                    .f(6, "kg^kilogram^UCUM")
                    .f(11, "F"),
            );
        }
        if kind != Kind::AdtA03 {
            for i in 1..=self.rng.range(0, 3) {
                let (code, name, reaction) = self.rng.pick(ALLERGENS);
                let sev = self.rng.pick(&[
                    "SV^Severe^HL70128",
                    "MO^Moderate^HL70128",
                    "MI^Mild^HL70128",
                ]);
                self.write(
                    Seg::new("AL1")
                        .f(1, i.to_string())
                        .f(2, "DA^Drug allergy^HL70127")
                        .f(3, format!("{code}^{name}^RXNORM"))
                        .f(4, sev)
                        .f(5, reaction),
                );
            }
        }
        for i in 1..=self.rng.range(1, 3) {
            let (code, name) = self.rng.pick(DIAGNOSES);
            let when = self.ts();
            let dx_type = self.rng.pick(&["A", "W", "F"]);
            self.write(
                Seg::new("DG1")
                    .f(1, i.to_string())
                    .f(3, format!("{code}^{name}^I10"))
                    .f(5, when)
                    .f(6, dx_type),
            );
        }
        if full || kind == Kind::AdtA04 {
            for i in 1..=self.rng.range(1, 2) {
                let (id, name) = self.rng.pick(PAYERS);
                let group = self.rng.range(10_000, 99_999);
                let policy = self.rng.range(100_000_000, 999_999_999);
                let (city, state, zip) = self.rng.pick(CITY);
                self.write(
                    Seg::new("IN1")
                        .f(1, i.to_string())
                        .f(2, format!("{id}-GOLD^Gold PPO^HL70072"))
                        .f(
                            3,
                            format!("{id}^^^PAYER&2.16.840.1.113883.3.{group}&ISO^NIIP"),
                        )
                        .f(4, name)
                        .f(
                            5,
                            format!("PO Box {}^^{city}^{state}^{zip}^USA", group % 900),
                        )
                        .f(7, "^WPN^PH^^1^800^5550199")
                        .f(8, format!("GRP{group}"))
                        .f(12, "20240101")
                        .f(13, "20241231")
                        .f(16, format!("{}^{}^^^^^L", p.family, p.given))
                        .f(17, "SEL^Self^HL70063")
                        .f(18, p.dob.clone())
                        .f(36, format!("POL{policy}")),
                );
            }
        }
    }

    fn oru(&mut self, p: &Patient) {
        self.pid(p);
        self.pv1(p, "O", false);
        let (panel, panel_name) = self.rng.pick(PANELS);
        let order = self.rng.range(100_000, 999_999);
        let collected = self.ts();
        let reported = self.ts();
        self.write(
            Seg::new("ORC")
                .f(1, "RE")
                .f(2, format!("ORD{order}^EPIC"))
                .f(3, format!("LAB{order}^CERNLAB"))
                .f(5, "CM")
                .f(9, collected.clone())
                .f(12, Gen::doctor_xcn(p.doctor)),
        );
        self.write(
            Seg::new("OBR")
                .f(1, "1")
                .f(2, format!("ORD{order}^EPIC"))
                .f(3, format!("LAB{order}^CERNLAB"))
                .f(4, format!("{panel}^{panel_name}^LN"))
                .f(7, collected)
                .f(16, Gen::doctor_xcn(p.doctor))
                .f(22, reported)
                .f(24, "LAB")
                .f(25, "F"),
        );
        if self.rng.chance(40) {
            let note = self.rng.pick(NOTES);
            self.write(Seg::new("NTE").f(1, "1").f(2, "L").f(3, note));
        }
        let count = self.rng.range(5, 30);
        for i in 1..=count {
            let t = self.rng.pick(TESTS);
            let (code, name, lo, hi, decimals, units, range) = t;
            let raw = self.rng.range(lo, hi);
            let value = if decimals == 1 {
                format!("{}.{}", raw / 10, raw % 10)
            } else {
                raw.to_string()
            };
            let flag = self.rng.pick(&["N", "N", "N", "H", "L", ""]);
            let when = self.ts();
            // Every fifth result or so is a text result whose value carries escapes.
            let (vt, value) = if self.rng.chance(15) {
                ("TX", (self.rng.pick(NOTES)).to_string())
            } else {
                ("NM", value)
            };
            let obx = Seg::new("OBX")
                .f(1, i.to_string())
                .f(2, vt)
                .f(3, format!("{code}^{name}^LN"))
                .f(5, value)
                .f(6, format!("{units}^{units}^UCUM"))
                .f(7, range)
                .f(8, flag)
                .f(11, "F")
                .f(14, when);
            // Some labs name the responsible observer on every result, others leave it out.
            let obx = if self.rng.chance(50) {
                obx.f(16, Gen::doctor_xcn(p.doctor))
            } else {
                obx
            };
            self.write(obx);
            if self.rng.chance(30) {
                for n in 1..=self.rng.range(1, 2) {
                    let note = self.rng.pick(NOTES);
                    self.write(Seg::new("NTE").f(1, n.to_string()).f(2, "L").f(3, note));
                }
            }
        }
    }

    fn siu(&mut self, p: &Patient) {
        let appt = self.rng.range(100_000, 999_999);
        let start = self.ts();
        let minutes = self.rng.pick(&[15u32, 20, 30, 45, 60]);
        self.write(
            Seg::new("SCH")
                .f(1, format!("APT{appt}^SCHEDPRO"))
                .f(2, format!("APT{appt}^SCHEDPRO"))
                .f(6, "^Follow-up after discharge")
                .f(7, "ROUTINE^Routine^HL70276")
                .f(8, "FOLLOWUP^Follow-up visit^HL70277")
                .f(9, minutes.to_string())
                .f(10, "min^minutes^ISO+")
                .f(11, format!("^^{minutes}^{start}"))
                .f(16, Gen::doctor_xcn(p.doctor))
                .f(20, Gen::doctor_xcn(p.doctor))
                .f(25, "Booked^Booked^HL70278"),
        );
        if self.rng.chance(50) {
            self.write(Seg::new("NTE").f(1, "1").f(
                3,
                "Patient requests interpreter\\.br\\Bring medication list \\T\\ insurance card",
            ));
        }
        self.pid(p);
        self.pv1(p, "O", false);
        self.write(Seg::new("RGS").f(1, "1").f(2, "A"));
        let (code, name, _) = self.rng.pick(PROCEDURES);
        self.write(
            Seg::new("AIS")
                .f(1, "1")
                .f(2, "A")
                .f(3, format!("{code}^{name}^CPT"))
                .f(4, start.clone())
                .f(7, minutes.to_string())
                .f(8, "min^minutes^ISO+"),
        );
        self.write(
            Seg::new("AIG")
                .f(1, "1")
                .f(2, "A")
                .f(3, Gen::doctor_xcn(p.doctor))
                .f(4, "MD^Physician^HL70182")
                .f(8, start.clone()),
        );
        self.write(
            Seg::new("AIL")
                .f(1, "1")
                .f(2, "A")
                .f(3, format!("{}^{}^A^HOSP&1.2.3&ISO", p.unit.0, p.room))
                .f(6, start.clone()),
        );
        self.write(
            Seg::new("AIP")
                .f(1, "1")
                .f(2, "A")
                .f(3, Gen::doctor_xcn(p.doctor))
                .f(4, "ATT^Attending^HL70443")
                .f(6, start),
        );
    }

    fn dft(&mut self, p: &Patient, now: &str) {
        self.evn(Kind::DftP03, now);
        self.pid(p);
        self.pv1(p, "O", false);
        for i in 1..=self.rng.range(2, 8) {
            let (code, name, cents) = self.rng.pick(PROCEDURES);
            let qty = self.rng.range(1, 3);
            let when = self.ts();
            let (d1, n1) = self.rng.pick(DIAGNOSES);
            let mut dx = format!("{d1}^{n1}^I10");
            if self.rng.chance(50) {
                let (d2, n2) = self.rng.pick(DIAGNOSES);
                let _ = write!(dx, "~{d2}^{n2}^I10");
            }
            let total = cents * qty;
            self.write(
                Seg::new("FT1")
                    .f(1, i.to_string())
                    .f(2, format!("TXN{:06}", self.control * 16 + i))
                    .f(4, when.clone())
                    .f(5, when)
                    .f(6, "CG^Charge^HL70017")
                    .f(7, format!("{code}^{name}^CPT"))
                    .f(10, qty.to_string())
                    .f(11, format!("{}.{:02}&USD", total / 100, total % 100))
                    .f(12, format!("{}.{:02}&USD", cents / 100, cents % 100))
                    .f(13, p.unit.1)
                    .f(16, format!("{}^{}^^HOSP&1.2.3&ISO", p.unit.0, p.room))
                    .f(19, dx)
                    .f(20, Gen::doctor_xcn(p.doctor))
                    .f(21, Gen::doctor_xcn(p.doctor))
                    .f(25, format!("{code}^{name}^CPT")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hl7fhir::v2::Parser;

    #[test]
    fn deterministic() {
        let a = Corpus::generate(7, 40);
        let b = Corpus::generate(7, 40);
        assert_eq!(a.bytes(), b.bytes());
        assert_ne!(a.bytes(), Corpus::generate(8, 40).bytes());
    }

    #[test]
    fn mean_size_and_mix() {
        let c = Corpus::standard();
        let mean = c.mean_message_bytes();
        println!(
            "{} messages, {} bytes, mean {mean:.0} bytes",
            c.len(),
            c.bytes().len()
        );
        for kind in Kind::ALL {
            let sizes: Vec<usize> = c
                .messages()
                .iter()
                .zip(c.kinds())
                .filter(|(_, k)| **k == kind)
                .map(|(m, _)| m.len())
                .collect();
            let n = sizes.len();
            let mean = sizes.iter().sum::<usize>() as f64 / n.max(1) as f64;
            println!("  {kind:?}: {n} messages, mean {mean:.0} bytes");
            assert!(n > 0, "{kind:?} missing");
        }
        assert!((2500.0..2700.0).contains(&mean), "mean {mean:.0} bytes");
    }

    /// Every message parses strictly and every value decodes, so the benches measure the
    /// happy path and `to_tree` cannot fail.
    #[test]
    fn every_message_parses_and_decodes() {
        let c = Corpus::standard();
        let mut parser = Parser::default();
        for (i, m) in c.messages().into_iter().enumerate() {
            let msg = parser
                .parse(m)
                .unwrap_or_else(|e| panic!("message {i}: {e}"));
            if let Err(e) = msg.to_tree() {
                panic!("message {i}: {e}");
            }
        }
    }

    /// The corpus has the features the benches are meant to exercise.
    #[test]
    fn features_present() {
        let c = Corpus::standard();
        let text = String::from_utf8_lossy(c.bytes());
        for needle in [
            "\\F\\",
            "\\S\\",
            "\\T\\",
            "\\R\\",
            "\\E\\",
            "\\X0D\\",
            "\\.br\\",
            "HOSP&1.2.3&ISO",
            "||",
            "UNICODE UTF-8",
            "NTE|",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert!(!text.contains('\n'));
    }
}
