//! Paths into JSON values, for the malformed-input tests' mutators.
#![allow(dead_code)]

use serde_json::{Value, json};

/// Every path into `value` (object keys and array indexes).
pub fn paths_of(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(json!(key));
                paths_of(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(json!(index));
                paths_of(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The value at `path` (as `paths_of` gives them).
pub fn at_path<'v>(value: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(value, |v, step| match step {
        Value::String(key) => &mut v[key.as_str()],
        Value::Number(index) => &mut v[index.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}
