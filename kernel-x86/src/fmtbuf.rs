//! A fixed-size formatting buffer, so printing needs no heap (exception handlers print).

use core::fmt;

/// Up to `N` bytes of formatted UTF-8 text.
pub struct FmtBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FmtBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        FmtBuf { buf: [0; N], len: 0 }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // `write_str` only ever appends whole UTF-8 sequences.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<bad utf-8>")
    }

    /// Marks the text as cut short by ending it with "...\n".
    pub fn truncated(&mut self) {
        if self.len + 4 > N {
            self.len = N - 4;
            while core::str::from_utf8(&self.buf[..self.len]).is_err() {
                self.len -= 1;
            }
        }
        self.buf[self.len..self.len + 4].copy_from_slice(b"...\n");
        self.len += 4;
    }
}

impl<const N: usize> fmt::Write for FmtBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}
