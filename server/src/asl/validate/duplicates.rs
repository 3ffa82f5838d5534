//! Keys repeated within one object. serde_json keeps the last of duplicate keys
//! silently; a definition must not lose a state that way.

use std::collections::HashSet;
use std::fmt;

use crate::asl::template::pointer_escape;

/// The JSON Pointer and name of every key that repeats within one object.
pub(crate) fn duplicate_keys(text: &str) -> Vec<(String, String)> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    struct Scan<'a> {
        at: String,
        found: &'a RefCell<Vec<(String, String)>>,
    }

    impl<'de> DeserializeSeed<'de> for Scan<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while seq
                .next_element_seed(Scan {
                    at: format!("{}/{index}", self.at),
                    found: self.found,
                })?
                .is_some()
            {
                index += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let at = format!("{}/{}", self.at, pointer_escape(&key));
                if !seen.insert(key.clone()) {
                    self.found.borrow_mut().push((at.clone(), key));
                }
                map.next_value_seed(Scan {
                    at,
                    found: self.found,
                })?;
            }
            Ok(())
        }
    }

    let found = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // The text already parsed as JSON, so the scan cannot fail.
    let _ = Scan {
        at: String::new(),
        found: &found,
    }
    .deserialize(&mut deserializer);
    found.into_inner()
}
