//! Token buckets in Redis: one Lua script refills and charges a bucket
//! atomically, on Redis' clock, so every control plane replica (and every
//! Envoy behind them) shares one budget.

use redis::aio::ConnectionManager;
use tokio::sync::Mutex;

use super::descriptor::Bucket;

pub struct Store {
    client: redis::Client,
    /// Connected on first use (and again after a failure): the control plane
    /// starts whether or not Redis is up yet.
    connection: Mutex<Option<ConnectionManager>>,
    script: redis::Script,
}

/// A bucket after a request: tokens left (negative: spent beyond it, until
/// refills pay it back) and milliseconds until it holds more than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub tokens: i64,
    pub wait_ms: u64,
}

impl Store {
    pub fn new(url: &str) -> Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("--redis {}: {e}", redact(url)))?;
        Ok(Store {
            client,
            connection: Mutex::new(None),
            script: redis::Script::new(include_str!("bucket.lua")),
        })
    }

    /// Refills `key`, takes `charge` tokens (0: only looks) and returns the
    /// level after.
    pub async fn take(&self, key: &str, bucket: Bucket, charge: u64) -> Result<Level, String> {
        let mut slot = self.connection.lock().await;
        let connection = match slot.as_mut() {
            Some(c) => c,
            None => {
                let c = ConnectionManager::new(self.client.clone())
                    .await
                    .map_err(|e| format!("cannot reach Redis: {e}"))?;
                slot.insert(c)
            }
        };
        let mut connection = connection.clone();
        drop(slot);
        let (tokens, wait_ms): (i64, i64) = self
            .script
            .key(key)
            .arg(bucket.max_tokens)
            .arg(bucket.tokens_per_fill)
            .arg(bucket.fill_interval_ms)
            .arg(charge)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| format!("Redis: {e}"))?;
        Ok(Level {
            tokens,
            wait_ms: u64::try_from(wait_ms).unwrap_or(0),
        })
    }
}

/// A Redis URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:s3cret@redis:6379/0", "redis://…@redis:6379/0"),
            ("rediss://user:s3cret@redis", "rediss://…@redis"),
        ];
        for (url, want) in cases {
            assert_eq!(super::redact(url), want);
        }
    }
}
