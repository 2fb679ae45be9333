//! What an SQS message body says: S3 object-created records, S3's test event, or poison.
//!
//! S3 writes object keys into event notifications URL-encoded the way HTML forms are (`+` for a space, `%XX`
//! for every other reserved or non-ASCII byte), so the key is decoded exactly that way: `+` first becomes a
//! space, then `%XX` sequences become bytes, which must form UTF-8.

use serde::Deserialize;

/// One S3 object named by an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// RFC 3339, as S3 wrote it.
    pub event_time: String,
}

impl ObjectRef {
    /// The object's identity for idempotency: a re-upload of the same key with new content is a new file,
    /// because its version id (versioned buckets) or its ETag (unversioned) differs.
    pub fn identity(&self) -> String {
        match &self.version_id {
            Some(v) => format!("s3://{}/{}#version={v}", self.bucket, self.key),
            None => format!("s3://{}/{}#etag={}", self.bucket, self.key, self.etag),
        }
    }

    pub fn display(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What one message body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// One or more objects to deliver.
    Objects(Vec<ObjectRef>),
    /// S3's `s3:TestEvent`, sent when a notification is configured: acknowledged, nothing delivered.
    TestEvent,
    /// Anything that cannot be processed, ever; the reason says why.
    Poison(String),
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    #[serde(rename = "eventTime", default)]
    event_time: String,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "eTag", default)]
    e_tag: String,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
}

/// Reads a message body.
pub fn parse_body(body: Option<&str>) -> Body {
    let Some(body) = body else {
        return Body::Poison("the message has no body".into());
    };
    let notification: Notification = match serde_json::from_str(body) {
        Ok(n) => n,
        Err(e) => {
            return Body::Poison(format!(
                "the body is not an S3 event notification (JSON error at line {} column {}: {})",
                e.line(),
                e.column(),
                e.classify_name()
            ));
        }
    };
    if notification.event.as_deref() == Some("s3:TestEvent") {
        return Body::TestEvent;
    }
    let Some(records) = notification.records else {
        return Body::Poison(
            "the body is JSON but has no `Records`: not an S3 event notification".into(),
        );
    };
    let mut objects = Vec::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        if !record.event_name.starts_with("ObjectCreated:") {
            return Body::Poison(format!(
                "record {i} is `{}`, not an ObjectCreated event: the notification should send only s3:ObjectCreated:*",
                record.event_name
            ));
        }
        let Some(s3) = record.s3 else {
            return Body::Poison(format!("record {i} has no `s3` section"));
        };
        let key = match decode_key(&s3.object.key) {
            Ok(k) => k,
            Err(e) => return Body::Poison(format!("record {i}: {e}")),
        };
        objects.push(ObjectRef {
            bucket: s3.bucket.name,
            key,
            version_id: s3
                .object
                .version_id
                .filter(|v| !v.is_empty() && v != "null"),
            size: s3.object.size,
            etag: s3.object.e_tag,
            event_time: record.event_time,
        });
    }
    if objects.is_empty() {
        return Body::Poison("the notification has an empty `Records` list".into());
    }
    Body::Objects(objects)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// Why a key from an event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the object key `{0}` has a `%` not followed by two hex digits")]
    BadEscape(String),
    #[error("the object key `{0}` does not decode to UTF-8")]
    NotUtf8(String),
}

/// Decodes a key as S3 encodes it in event notifications (form encoding: `+` is a space).
pub fn decode_key(encoded: &str) -> Result<String, KeyError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| KeyError::BadEscape(encoded.to_string()))?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KeyError::NotUtf8(encoded.to_string()))
}

/// The body S3 would send for `objects` having been put, one `ObjectCreated:Put` record each: what the daily
/// report re-sends to the source queue for a file nothing accounts for (`reporter`), and what [`parse_body`]
/// reads back into the same objects.
pub fn notification(objects: &[ObjectRef]) -> String {
    let records: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| {
            let mut object = serde_json::json!({
                "key": encode_key(&o.key), "size": o.size, "eTag": o.etag,
            });
            if let Some(version) = &o.version_id {
                object["versionId"] = serde_json::json!(version);
            }
            serde_json::json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "eventTime": o.event_time,
                "s3": {"s3SchemaVersion": "1.0",
                       "bucket": {"name": o.bucket, "arn": format!("arn:aws:s3:::{}", o.bucket)},
                       "object": object},
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// Encodes a key as S3 does in event notifications; the inverse of [`decode_key`] (tests, local runs).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str) -> String {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "eventTime": "2026-11-22T01:02:03.456Z",
            "s3": {"bucket": {"name": "landing"},
                   "object": {"key": key, "size": 5, "eTag": "abc", "versionId": "v1"}}
        }]})
        .to_string()
    }

    #[test]
    fn decodes_as_s3_encodes() {
        assert_eq!(decode_key("a+b%2Bc%25d%3De").as_deref(), Ok("a b+c%d=e"));
        assert_eq!(decode_key("caf%C3%A9/%E6%97%A5").as_deref(), Ok("café/日"));
        assert!(matches!(decode_key("bad%2"), Err(KeyError::BadEscape(_))));
        assert!(matches!(decode_key("bad%zz"), Err(KeyError::BadEscape(_))));
        assert!(matches!(decode_key("%FF"), Err(KeyError::NotUtf8(_))));
    }

    #[test]
    fn keys_round_trip() {
        for key in [
            "plain.txt",
            "with space",
            "a+b",
            "100%",
            "x=y&z",
            "ünïcødé/日本",
            "a  b++c%%",
        ] {
            assert_eq!(decode_key(&encode_key(key)).as_deref(), Ok(key), "{key}");
        }
    }

    #[test]
    fn a_notification_reads_back_as_the_objects_it_names() {
        let objects = vec![
            ObjectRef {
                bucket: "landing".into(),
                key: "dir/a b+c%.txt".into(),
                version_id: Some("v1".into()),
                size: 12,
                etag: "e1".into(),
                event_time: "2026-11-22T01:02:03.456Z".into(),
            },
            ObjectRef {
                bucket: "landing".into(),
                key: "ünï".into(),
                version_id: None,
                size: 0,
                etag: "e2".into(),
                event_time: "2026-11-22T01:02:04Z".into(),
            },
        ];
        assert_eq!(
            parse_body(Some(&notification(&objects))),
            Body::Objects(objects)
        );
    }

    #[test]
    fn parses_records_test_events_and_poison() {
        match parse_body(Some(&event("dir/my+file%2B1.txt"))) {
            Body::Objects(objects) => {
                assert_eq!(objects.len(), 1);
                assert_eq!(objects[0].key, "dir/my file+1.txt");
                assert_eq!(objects[0].version_id.as_deref(), Some("v1"));
                assert_eq!(
                    objects[0].identity(),
                    "s3://landing/dir/my file+1.txt#version=v1"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T00:00:00.000Z","Bucket":"landing"}"#;
        assert_eq!(parse_body(Some(test_event)), Body::TestEvent);
        for poison in [
            None,
            Some("not json"),
            Some("{}"),
            Some(r#"{"Records":[]}"#),
        ] {
            assert!(matches!(parse_body(poison), Body::Poison(_)), "{poison:?}");
        }
        let removed = event("k").replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert!(
            matches!(parse_body(Some(&removed)), Body::Poison(r) if r.contains("ObjectRemoved"))
        );
    }
}
