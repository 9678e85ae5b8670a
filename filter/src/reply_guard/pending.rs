//! The text of one streamed choice or block as it passes: what can go to
//! the client now, masked, and the tail held back until more text says
//! whether it belongs to a match. The held tail is short: what a match
//! could still grow from ([`Patterns::open_from`], at most the longest match
//! less one byte) plus a match that reaches the end (more text may make it
//! longer, or no match at all).
//!
//! Whatever the pieces, the text let through adds up to the whole text
//! masked at once: the one character kept before the tail lets `\b` see
//! what the tail follows. (Not for a match longer than its pattern's bound,
//! [`crate::guard_patterns::UNBOUNDED_MATCH_CAP`]: it is masked in parts.)

use crate::guard_patterns::{splice, Found, Patterns};

#[derive(Debug, Default)]
pub(super) struct Pending {
    /// The last character let through, then the held text.
    buf: String,
    /// Where the held text starts in `buf`.
    held_from: usize,
}

/// Text to let through now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Released {
    pub text: String,
    /// Matches masked in it.
    pub masks: usize,
}

impl Released {
    pub fn append(&mut self, more: Released) {
        self.text.push_str(&more.text);
        self.masks += more.masks;
    }
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.buf.len() == self.held_from
    }

    /// Adds the next piece of text; returns what can go now.
    pub fn push(&mut self, patterns: &Patterns, piece: &str) -> Released {
        self.buf.push_str(piece);
        let found = patterns.find_at(&self.buf, self.held_from);
        let mut cut = patterns.open_from(&self.buf).max(self.held_from);
        // A match reaching the end may still grow; one across the cut is
        // held whole (matches are sorted and disjoint: later ones first).
        for f in found.iter().rev() {
            if f.end == self.buf.len() || (f.start < cut && f.end > cut) {
                cut = cut.min(f.start);
            }
        }
        // Only a match longer than its pattern's bound (`+`, `*`) holds
        // more: it goes, masked as far as it is seen, rather than the
        // stream piling up here.
        if self.buf.len() - cut > 2 * patterns.max_len() {
            cut = self.buf.len();
        }
        let released = self.release(&found, cut);
        // Keep the last released character as context for the held text.
        let context = self
            .buf
            .get(..cut)
            .and_then(|before| before.char_indices().next_back())
            .map_or(cut, |(i, _)| i);
        self.buf.drain(..context);
        self.held_from = cut - context;
        released
    }

    /// The stream ends: everything held goes, masked.
    pub fn flush(&mut self, patterns: &Patterns) -> Released {
        let found = patterns.find_at(&self.buf, self.held_from);
        let released = self.release(&found, self.buf.len());
        self.buf.clear();
        self.held_from = 0;
        released
    }

    /// The held text up to `cut`, masked.
    fn release(&self, found: &[Found<'_>], cut: usize) -> Released {
        let from = self.held_from;
        let inside: Vec<Found<'_>> = found
            .iter()
            .filter(|f| f.end <= cut)
            .map(|f| Found {
                start: f.start - from,
                end: f.end - from,
                mask: f.mask,
            })
            .collect();
        let text = self.buf.get(from..cut).unwrap_or_default();
        Released {
            text: if inside.is_empty() {
                text.to_owned()
            } else {
                splice(text, &inside)
            },
            masks: inside.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_config::{Builtin, NamedPattern};

    fn builtins() -> Patterns {
        Patterns::new(
            &[],
            &[
                Builtin::Ssn,
                Builtin::CreditCard,
                Builtin::PhoneNumber,
                Builtin::Email,
            ],
        )
        .unwrap()
    }

    /// What each piece lets through, then the flush.
    fn run(patterns: &Patterns, pieces: &[&str]) -> (Vec<String>, String, usize) {
        let mut pending = Pending::default();
        let mut masks = 0;
        let mut out = Vec::new();
        for piece in pieces {
            let r = pending.push(patterns, piece);
            masks += r.masks;
            out.push(r.text);
        }
        let last = pending.flush(patterns);
        assert!(pending.is_empty());
        (out, last.text, masks + last.masks)
    }

    #[test]
    fn holds_back_only_what_may_become_a_match() {
        let p = builtins();
        // (pieces, what each lets through, the flush)
        let cases: &[(&[&str], &[&str], &str)] = &[
            // Words go as soon as a character follows them that no match
            // has (`.` may be in an address).
            (
                &["Hello", " there", ", friend."],
                &["", "Hello ", "there, "],
                "friend.",
            ),
            // A card split across pieces is masked whole.
            (
                &["pay 4111 ", "1111 1111", " 1111 now"],
                &["pay ", "", "<CREDIT_CARD> "],
                "now",
            ),
            // A number that turns out not to be a card is not masked (and
            // waits: it could still become a phone number).
            (
                &["id 4111 1111", " 1111 1112."],
                &["id ", ""],
                "4111 1111 1111 1112.",
            ),
            // A match at the very end waits: more digits would undo it.
            (&["call 555-123-4567"], &["call "], "<PHONE_NUMBER>"),
            (
                &["mail jane.doe", "@example", ".com", " today"],
                &["mail ", "", "", "<EMAIL> "],
                "today",
            ),
            // `\b` sees the character before the held text.
            (
                &["x4111111111111111", " y"],
                &["", "x4111111111111111 "],
                "y",
            ),
            (&["é", "ü", " 123-45-6789!"], &["é", "ü", " <SSN>!"], ""),
        ];
        for (pieces, want, flushed) in cases {
            let (got, last, _) = run(&p, pieces);
            assert_eq!(&got, want, "{pieces:?}");
            assert_eq!(&last, flushed, "{pieces:?}");
        }
    }

    #[test]
    fn the_pieces_add_up_to_the_text_masked_at_once_at_every_split() {
        let p = Patterns::new(
            &[NamedPattern {
                pattern: r"(?i)project\s+falcon".into(),
                name: Some("CODENAME".into()),
            }],
            &[
                Builtin::Ssn,
                Builtin::CreditCard,
                Builtin::PhoneNumber,
                Builtin::Email,
            ],
        )
        .unwrap();
        let texts = [
            "Card 4111 1111 1111 1111, mail jane.doe+ai@example.co.uk, call (555) 123-4567.",
            "SSN 123-45-6789 for Project  Falcon; not 4111 1111 1111 1112 or x4111111111111111",
            "é4111111111111111 ü a@b.io",
        ];
        for text in texts {
            let whole = p.mask(text).unwrap_or_else(|| text.to_owned());
            let cuts: Vec<usize> = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .collect();
            for &i in &cuts {
                for &j in cuts.iter().filter(|j| **j >= i) {
                    let pieces = [&text[..i], &text[i..j], &text[j..]];
                    let (got, last, masks) = run(&p, &pieces);
                    assert_eq!(got.concat() + &last, whole, "{text:?} cut at {i},{j}");
                    assert_eq!(masks, p.find(text).len(), "{text:?} cut at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn the_held_text_stays_short() {
        let p = builtins();
        let mut pending = Pending::default();
        let word = "lorem ipsum dolor sit amet ".repeat(40);
        for piece in word.as_bytes().chunks(5) {
            pending.push(&p, std::str::from_utf8(piece).unwrap());
            assert!(pending.buf.len() <= 12, "{:?}", pending.buf);
        }
        let digits = "1".repeat(300);
        pending.push(&p, &digits);
        assert!(pending.buf.len() <= p.max_len(), "{}", pending.buf.len());
        // A pattern without a bound matching the whole stream.
        let letters = Patterns::new(
            &[NamedPattern {
                pattern: "[a-z]+".into(),
                name: None,
            }],
            &[],
        )
        .unwrap();
        let mut pending = Pending::default();
        let mut out = String::new();
        for _ in 0..1000 {
            out.push_str(&pending.push(&letters, "abcd").text);
            assert!(
                pending.buf.len() <= 3 * letters.max_len(),
                "{}",
                pending.buf.len()
            );
        }
        out.push_str(&pending.flush(&letters).text);
        assert!(!out.contains('a'), "{out}");
    }
}
