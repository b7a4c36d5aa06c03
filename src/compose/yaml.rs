//! YAML text to a JSON tree, with compose's two merge tags taken off and remembered:
//! `!reset` (the key is dropped from what earlier files said, and from this one) and
//! `!override` (the value replaces what earlier files said instead of merging with it),
//! as compose-go's loader does (`loader/reset.go`). serde-saphyr does the parsing (anchors,
//! `<<:` merge keys); its `Tagged` wrapper hands each node's tag over.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Tagged;

/// A merge tag on a mapping key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    Reset,
    Override,
}

/// Where a merge tag was: the mapping keys from the top (`["services", "web", "ports"]`).
pub type TagPath = (Vec<String>, MergeTag);

/// One node as parsed, its tag kept.
struct Node(Tagged<Inner>);

enum Inner {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Tagged::<Inner>::deserialize(d).map(Node)
    }
}

struct InnerVisitor;

impl<'de> Visitor<'de> for InnerVisitor {
    type Value = Inner;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Inner, E> {
        Ok(Inner::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Inner, E> {
        Ok(Inner::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Inner, D::Error> {
        d.deserialize_any(InnerVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Inner, E> {
        Ok(Inner::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Inner, E> {
        Ok(Inner::Num(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Inner, E> {
        Ok(Inner::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Inner, E> {
        Ok(Number::from_f64(v).map_or(Inner::Null, Inner::Num))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Inner, E> {
        Ok(Inner::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Inner, E> {
        Ok(Inner::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Inner, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = a.next_element::<Node>()? {
            out.push(n);
        }
        Ok(Inner::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Inner, A::Error> {
        let mut out: Vec<(String, Node)> = Vec::new();
        // Keys as strings, spelled as written (`n` is not YAML 1.1's false here, as
        // serde_json's map keys were not either).
        while let Some(k) = a.next_key::<String>()? {
            let v = a.next_value::<Node>()?;
            // A later key wins, as serde_json's map would have it.
            out.retain(|(x, _)| *x != k);
            out.push((k, v));
        }
        Ok(Inner::Map(out))
    }
}

impl<'de> Deserialize<'de> for Inner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InnerVisitor)
    }
}

fn tag_of(t: Option<&str>) -> Option<MergeTag> {
    match t? {
        "!reset" => Some(MergeTag::Reset),
        "!override" => Some(MergeTag::Override),
        _ => None,
    }
}

/// The node as JSON; merge tags on mapping values are left out (reset) or unwrapped
/// (override) and listed in `tags`.
fn to_value(n: Node, path: &mut Vec<String>, tags: &mut Vec<TagPath>) -> Value {
    match n.0 .0 {
        Inner::Null => Value::Null,
        Inner::Bool(b) => Value::Bool(b),
        Inner::Num(x) => Value::Number(x),
        Inner::Str(s) => Value::String(s),
        Inner::Seq(v) => Value::Array(v.into_iter().map(|x| to_value(x, path, tags)).collect()),
        Inner::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let tag = tag_of(v.0 .1.as_deref());
                path.push(k.clone());
                if let Some(t) = tag {
                    tags.push((path.clone(), t));
                }
                let val = to_value(v, path, tags);
                path.pop();
                if tag != Some(MergeTag::Reset) {
                    out.insert(k, val);
                }
            }
            Value::Object(out)
        }
    }
}

/// Parses compose YAML; returns the tree and the merge tags found in it.
pub fn parse(text: &str) -> Result<(Value, Vec<TagPath>), String> {
    let n: Node = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let mut tags = Vec::new();
    let v = to_value(n, &mut Vec::new(), &mut tags);
    Ok((v, tags))
}

/// Applies a later file's merge tags to what the earlier files said (`base`): each tagged
/// key is removed there, so the later value (override) or nothing (reset) remains after
/// the merge.
pub fn apply_tags(base: &mut Value, tags: &[TagPath]) {
    for (path, _) in tags {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut cur = Some(&mut *base);
        for p in parents {
            cur = cur.and_then(|c| c.get_mut(p.as_str()));
        }
        if let Some(m) = cur.and_then(Value::as_object_mut) {
            m.remove(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_taken_off_and_listed() {
        let (v, tags) = parse(
            "x: &a {k: 1}\nservices:\n  web:\n    <<: *a\n    ports: !override [\"8080:80\"]\n    command: !reset null\n    n: 1.5\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"x": {"k": 1}, "services": {"web": {"k": 1, "ports": ["8080:80"], "n": 1.5}}})
        );
        assert_eq!(
            tags,
            vec![
                (
                    vec!["services".into(), "web".into(), "ports".into()],
                    MergeTag::Override
                ),
                (
                    vec!["services".into(), "web".into(), "command".into()],
                    MergeTag::Reset
                ),
            ]
        );
        let mut base =
            json!({"services": {"web": {"ports": ["1:1"], "command": "x", "image": "i"}}});
        apply_tags(&mut base, &tags);
        assert_eq!(base, json!({"services": {"web": {"image": "i"}}}));
    }
}
