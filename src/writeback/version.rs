//! What the HL7 version a writeback writes defines, for the writer: each field's data type,
//! repetitions and whether it is required, and each data type's components. The answers come
//! from [`crate::v2::spec`], whose tables keep per-version differences as text; the writer asks
//! the same questions for every message, so they are worked out once per thread and version
//! and kept.
//!
//! Also the hasher of the writer's sets of JSON node addresses: those are pointers, already
//! well spread, for which SipHash's protection against chosen keys buys nothing.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use crate::v2::spec;

/// A hasher for keys that are addresses or small integers: one multiply per word.
#[derive(Default, Clone, Copy)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

/// A set hashed with [`AddressHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<AddressHasher>>;
/// A map hashed with [`AddressHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<AddressHasher>>;

/// One field as a version defines it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// True when some version defines the field (a Z-segment's fields are unknown).
    pub known: bool,
    /// Its data type in this version; `None` when this version lacks it or withdrew it.
    pub ty: Option<&'static str>,
    /// True when its type has components.
    pub composite: bool,
    /// Repetitions allowed; `None` for any number.
    pub max: Option<usize>,
    /// True when this version requires it.
    pub required: bool,
}

/// The answers for one version, filled in as they are asked.
#[derive(Debug)]
pub(crate) struct Version {
    name: String,
    /// By segment id and field number, packed into one word (`key`).
    fields: RefCell<FastMap<u64, Field>>,
    /// By the data type name's address and component number: the names are the spec
    /// tables' own `&'static str`.
    components: RefCell<FastMap<(usize, u32), Option<&'static str>>>,
    composite: RefCell<FastMap<usize, bool>>,
    required: RefCell<FastMap<[u8; 3], Rc<[u32]>>>,
    /// By the data type name's address: the components this version requires.
    required_components: RefCell<FastMap<usize, Rc<[u32]>>>,
}

thread_local! {
    static VERSIONS: RefCell<HashMap<String, Rc<Version>>> = RefCell::new(HashMap::new());
}

impl Version {
    /// The answers for `name` (`2.5.1`) on this thread.
    pub(crate) fn get(name: &str) -> Rc<Version> {
        VERSIONS.with(|v| {
            if let Some(found) = v.borrow().get(name) {
                return Rc::clone(found);
            }
            let made = Rc::new(Version {
                name: name.to_string(),
                fields: RefCell::new(FastMap::default()),
                components: RefCell::new(FastMap::default()),
                composite: RefCell::new(FastMap::default()),
                required: RefCell::new(FastMap::default()),
                required_components: RefCell::new(FastMap::default()),
            });
            v.borrow_mut().insert(name.to_string(), Rc::clone(&made));
            made
        })
    }

    /// The version's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Field `n` (1-based) of segment `id`.
    pub(crate) fn field(&self, id: &[u8; 3], n: u32) -> Field {
        let key =
            u64::from(id[0]) << 48 | u64::from(id[1]) << 40 | u64::from(id[2]) << 32 | u64::from(n);
        if let Some(f) = self.fields.borrow().get(&key) {
            return *f;
        }
        let name = std::str::from_utf8(id).unwrap_or("");
        let n_usize = n as usize;
        let ty = spec::field_type_in(name, n_usize, &self.name);
        let f = Field {
            known: spec::field_type(name, n_usize).is_some(),
            ty,
            composite: ty.is_some_and(|t| t == "varies" || spec::component_count(t).is_some()),
            max: spec::max_repetitions_in(name, n_usize, &self.name),
            required: spec::required_in(name, n_usize, &self.name),
        };
        self.fields.borrow_mut().insert(key, f);
        f
    }

    /// The type of component `n` (1-based) of data type `ty` in this version.
    pub(crate) fn component(&self, ty: &'static str, n: u32) -> Option<&'static str> {
        let key = (ty.as_ptr() as usize, n);
        if let Some(c) = self.components.borrow().get(&key) {
            return *c;
        }
        let c = spec::component_type_in(ty, n as usize, &self.name);
        self.components.borrow_mut().insert(key, c);
        c
    }

    /// True when data type `ty` has components (a component of a simple type holds one
    /// subcomponent).
    pub(crate) fn composite(&self, ty: &'static str) -> bool {
        let key = ty.as_ptr() as usize;
        if let Some(c) = self.composite.borrow().get(&key) {
            return *c;
        }
        let c = spec::component_count(ty).is_some();
        self.composite.borrow_mut().insert(key, c);
        c
    }

    /// The components of data type `ty` this version requires wherever it is valued, in order.
    pub(crate) fn required_components(&self, ty: &'static str) -> Rc<[u32]> {
        let key = ty.as_ptr() as usize;
        if let Some(r) = self.required_components.borrow().get(&key) {
            return Rc::clone(r);
        }
        let count = spec::component_count(ty).unwrap_or(0);
        let list: Rc<[u32]> = (1..=count)
            .filter(|&n| spec::component_required_in(ty, n, &self.name))
            .map(|n| n as u32)
            .collect();
        self.required_components
            .borrow_mut()
            .insert(key, Rc::clone(&list));
        list
    }

    /// The fields of segment `id` this version requires, in order.
    pub(crate) fn required(&self, id: &[u8; 3]) -> Rc<[u32]> {
        if let Some(r) = self.required.borrow().get(id) {
            return Rc::clone(r);
        }
        let name = std::str::from_utf8(id).unwrap_or("");
        let count = spec::field_count(name).unwrap_or(0) as u32;
        let list: Rc<[u32]> = (1..=count)
            .filter(|&n| self.field(id, n).required)
            .collect();
        self.required.borrow_mut().insert(*id, Rc::clone(&list));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_match_the_spec() {
        let v = Version::get("2.5.1");
        let pid3 = v.field(b"PID", 3);
        assert!(pid3.known && pid3.required && pid3.composite && pid3.max.is_none());
        assert_eq!(pid3.ty, Some("CX"));
        assert_eq!(v.field(b"NTE", 5).ty, None);
        assert!(!v.field(b"ZZZ", 1).known);
        assert_eq!(v.component("XTN", 1), Some("ST"));
        assert_eq!(Version::get("2.6").component("XTN", 1), None);
        assert!(v.required(b"PID").contains(&5));
        assert!(Rc::ptr_eq(&v, &Version::get("2.5.1")));
    }
}
