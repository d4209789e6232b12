//! Reading a struct, or the struct variant an enum's tag names, from the keys of a TOML table
//! that are its fields, taking them out. One table can so hold the fields of several types (a
//! failure's shared fields and its kind's own), what is left over is what none of them takes,
//! and an error names the key it is about. serde's `flatten` can do neither: it cannot refuse
//! unknown fields, and it buffers values, so an error no longer says which field it is about.

use std::cell::Cell;
use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use toml::{Table, Value};

/// Why a value could not be read, and the key it is about (`None`: a required field is
/// missing, and the message names it).
#[derive(Debug)]
pub(crate) struct TakeError {
    pub(crate) key: Option<String>,
    pub(crate) msg: String,
}

impl fmt::Display for TakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for TakeError {}

impl de::Error for TakeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            key: None,
            msg: msg.to_string(),
        }
    }
}

/// What was read, and the names of its fields (the keys it could take).
type Taken<T> = Result<(T, &'static [&'static str]), TakeError>;

/// Struct `T` from the keys of `table` that are its fields, taken out.
pub(crate) fn take<T: DeserializeOwned>(table: &mut Table) -> Taken<T> {
    let mut fields = &[][..];
    let t = T::deserialize(Taker {
        table,
        tag: None,
        fields: &mut fields,
    })?;
    Ok((t, fields))
}

/// Enum `T` (externally tagged, its variants units or structs) as the variant named by the
/// string at key `tag` of `table`, from the keys that are that variant's fields; the tag and
/// those keys are taken out.
pub(crate) fn take_variant<T: DeserializeOwned>(table: &mut Table, tag: &'static str) -> Taken<T> {
    let mut fields = &[][..];
    let name = table.remove(tag);
    let t = T::deserialize(Taker {
        table,
        tag: Some((tag, name)),
        fields: &mut fields,
    })?;
    Ok((t, fields))
}

/// The deserializer of [`take`] and [`take_variant`]: a struct, or an enum with its tag key and
/// value; records the field names serde asks for.
struct Taker<'a> {
    table: &'a mut Table,
    tag: Option<(&'static str, Option<Value>)>,
    fields: &'a mut &'static [&'static str],
}

impl Taker<'_> {
    /// Takes `fields` out of the table and lets `visitor` read them, remembering the key being
    /// read so an error can name it.
    fn visit<'de, V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TakeError> {
        *self.fields = fields;
        let mut part = fields
            .iter()
            .filter_map(|f| self.table.remove(*f).map(|v| ((*f).to_string(), v)));
        let at = Cell::new(None);
        let entries = std::iter::from_fn(|| {
            let e = part.next();
            at.set(e.as_ref().map(|(k, _)| k.clone()));
            e
        });
        visitor
            .visit_map(MapDeserializer::<_, toml::de::Error>::new(entries))
            .map_err(|e| TakeError {
                key: at.take(),
                msg: e.message().to_string(),
            })
    }
}

/// `a`, `b`, `c`: names as a message lists them.
pub(crate) fn ticks(names: &[&str]) -> String {
    let t: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    t.join(", ")
}

impl<'de> de::Deserializer<'de> for Taker<'_> {
    type Error = TakeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TakeError> {
        Err(de::Error::custom(
            "only a struct or an enum is read from a table's keys",
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TakeError> {
        self.visit(fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TakeError> {
        let Some((tag, name)) = self.tag.take() else {
            return self.deserialize_any(visitor);
        };
        let msg = match name {
            Some(Value::String(name)) => {
                return visitor.visit_enum(Variant {
                    tag,
                    name,
                    taker: self,
                });
            }
            Some(v) => format!("expected one of {}, got {v}", ticks(variants)),
            None => format!("required, one of {}", ticks(variants)),
        };
        Err(TakeError {
            key: Some(tag.to_string()),
            msg,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// The variant a tag names, with the table its fields are taken from.
struct Variant<'a> {
    tag: &'static str,
    name: String,
    taker: Taker<'a>,
}

impl<'de> de::EnumAccess<'de> for Variant<'_> {
    type Error = TakeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), TakeError> {
        let variant = seed
            .deserialize(self.name.as_str().into_deserializer())
            .map_err(|e: TakeError| TakeError {
                key: Some(self.tag.to_string()),
                msg: e.msg,
            })?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_> {
    type Error = TakeError;

    fn unit_variant(self) -> Result<(), TakeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, TakeError> {
        Err(de::Error::custom(
            "only unit and struct variants are read from a table's keys",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, TakeError> {
        Err(de::Error::custom(
            "only unit and struct variants are read from a table's keys",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TakeError> {
        self.taker.visit(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Shared {
        at: Option<u32>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    enum Kind {
        Plain,
        Timed { every: u32 },
    }

    fn table(s: &str) -> Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn takes_each_types_fields_and_leaves_the_rest() {
        let mut t = table("kind = \"timed\"\nat = 1\nevery = 2\nodd = 3");
        assert_eq!(
            take::<Shared>(&mut t).unwrap(),
            (Shared { at: Some(1) }, &["at"][..])
        );
        let (k, fields) = take_variant::<Kind>(&mut t, "kind").unwrap();
        assert_eq!((k, fields), (Kind::Timed { every: 2 }, &["every"][..]));
        assert_eq!(t.keys().collect::<Vec<_>>(), ["odd"]);
        let mut t = table("kind = \"plain\"");
        assert_eq!(take_variant::<Kind>(&mut t, "kind").unwrap().0, Kind::Plain);
    }

    #[test]
    fn errors_name_their_key() {
        let err = |s: &str| {
            let mut t = table(s);
            let e = take_variant::<Kind>(&mut t, "kind").unwrap_err();
            (e.key, e.msg)
        };
        let (key, msg) = err("kind = \"timed\"\nevery = \"x\"");
        assert_eq!(key.as_deref(), Some("every"), "{msg}");
        assert!(msg.contains("expected u32"), "{msg}");
        let (key, msg) = err("kind = \"timed\"");
        assert_eq!((key, msg.as_str()), (None, "missing field `every`"));
        let (key, msg) = err("kind = \"nope\"");
        assert_eq!(key.as_deref(), Some("kind"));
        assert!(msg.contains("`plain` or `timed`"), "{msg}");
        let (key, msg) = err("every = 1");
        assert_eq!(
            (key.as_deref(), msg.as_str()),
            (Some("kind"), "required, one of `plain`, `timed`")
        );
        let (_, msg) = err("kind = 3");
        assert!(msg.ends_with("got 3"), "{msg}");
    }
}
