//! A copy of a body that stops growing at a fixed size: the filter streams
//! bodies through and only needs a bounded look at them.

#[derive(Debug)]
pub struct CappedCopy {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl CappedCopy {
    pub fn new(cap: usize) -> Self {
        CappedCopy {
            buf: Vec::new(),
            cap,
            overflowed: false,
        }
    }

    /// Whether a chunk of `len` bytes would still be kept; if not, the copy is
    /// given up. Lets the caller skip fetching chunks it would throw away.
    pub fn wants(&mut self, len: usize) -> bool {
        if !self.overflowed && self.buf.len().saturating_add(len) > self.cap {
            self.overflowed = true;
            // A partial copy is useless for JSON: free it now.
            self.buf = Vec::new();
        }
        !self.overflowed
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.wants(chunk.len()) {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The whole body, or `None` once it went over the cap.
    pub fn get(&self) -> Option<&[u8]> {
        (!self.overflowed).then_some(self.buf.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap() {
        let cases: &[(&[&[u8]], Option<&[u8]>)] = &[
            (&[], Some(b"")),
            (&[b"ab", b"c"], Some(b"abc")),
            (&[b"abcd"], Some(b"abcd")),
            (&[b"abcd", b""], Some(b"abcd")),
            (&[b"abcd", b"e"], None),
            (&[b"abcde"], None),
            (&[b"abcde", b"f"], None),
            (&[b"ab", b"abc", b"a"], None),
        ];
        for (chunks, want) in cases {
            let mut copy = CappedCopy::new(4);
            for c in *chunks {
                copy.push(c);
            }
            assert_eq!(copy.get(), *want, "{chunks:?}");
        }
    }

    #[test]
    fn wants_gives_up_for_good() {
        let mut copy = CappedCopy::new(4);
        assert!(copy.wants(4));
        assert!(!copy.wants(5));
        assert!(!copy.wants(0), "stays given up");
        copy.push(b"");
        assert_eq!(copy.get(), None);
    }
}
