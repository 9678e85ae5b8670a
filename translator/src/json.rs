//! Small helpers for building JSON documents without panicking.

use serde_json::Value;

/// `object[key] = member` without its panic: IndexMut panics when `object`
/// is not a JSON object. Every caller passes an object it built itself, so
/// anything else is left unchanged rather than taking the gateway down.
pub fn set_member(object: &mut Value, key: &str, member: Value) {
    if let Some(members) = object.as_object_mut() {
        members.insert(key.to_owned(), member);
    }
}
