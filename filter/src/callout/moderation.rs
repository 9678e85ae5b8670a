//! OpenAI's moderation endpoint (`POST /v1/moderations`): the prompt texts
//! go as `{"model", "input": [texts]}`; the answer's `results` has one entry
//! per text, and any `flagged: true` refuses the prompt. An answer without
//! a boolean `flagged` in every result is unusable (the guard's failure
//! mode decides): guessing "not flagged" would let anything through.

use serde::Deserialize;
use serde_json::json;

use super::webhook::Unusable;

pub fn request_body(model: &str, texts: &[&str]) -> Vec<u8> {
    json!({"model": model, "input": texts})
        .to_string()
        .into_bytes()
}

#[derive(Deserialize)]
struct Moderation {
    results: Vec<Result_>,
}

#[derive(Deserialize)]
struct Result_ {
    flagged: bool,
}

/// Whether a `200` answer flags the prompt.
pub fn flagged(body: &[u8]) -> Result<bool, Unusable> {
    let answer: Moderation = serde_json::from_slice(body)
        .map_err(|e| Unusable(format!("not a moderation answer: {e}")))?;
    if answer.results.is_empty() {
        return Err(Unusable("a moderation answer without results".into()));
    }
    Ok(answer.results.iter().any(|r| r.flagged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lists_the_texts() {
        let body = request_body("omni-moderation-latest", &["a", "b \"c\""]);
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            got,
            json!({"model": "omni-moderation-latest", "input": ["a", "b \"c\""]})
        );
    }

    #[test]
    fn answers() {
        let cases: [(&str, Result<bool, &str>); 7] = [
            (
                r#"{"id":"m","model":"omni","results":[{"flagged":false,"categories":{"violence":false}}]}"#,
                Ok(false),
            ),
            (
                r#"{"results":[{"flagged":false},{"flagged":true,"categories":{"violence":true}}]}"#,
                Ok(true),
            ),
            (r#"{"results":[]}"#, Err("without results")),
            (r#"{"results":[{"categories":{}}]}"#, Err("flagged")),
            (
                r#"{"results":[{"flagged":"yes"}]}"#,
                Err("not a moderation"),
            ),
            (
                r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}"#,
                Err("results"),
            ),
            ("upstream connect error", Err("not a moderation")),
        ];
        for (body, want) in cases {
            let got = flagged(body.as_bytes());
            match (&got, &want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{body}"),
                (Err(Unusable(why)), Err(part)) => assert!(why.contains(part), "{body}: {why}"),
                _ => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}
