//! A SHA-256 whose running state can be saved and resumed elsewhere: the eight words of
//! the chaining state, the length hashed so far and the unhashed tail (under one 64-byte
//! block), 105 bytes at most. Groundwork for issue 19's "any replica resumes an upload
//! without re-reading what it already received": saved next to the upload's offset, the
//! state lets another process continue the whole-file hash from there. Not wired into
//! tus yet (uploads hash in memory and re-read the spool file after a restart).

use sha2::block_api::compress256;

const BLOCK: usize = 64;
/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const INITIAL: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
/// Saved form: format version, 8 words, length (all big-endian), then the tail.
const VERSION: u8 = 1;
const HEAD: usize = 1 + 32 + 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far, the tail included.
    length: u64,
    /// The last `length % 64` bytes, not yet compressed.
    tail: Vec<u8>,
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        ResumableSha256 {
            state: INITIAL,
            length: 0,
            tail: Vec::with_capacity(BLOCK),
        }
    }
}

impl ResumableSha256 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes hashed so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        if !self.tail.is_empty() {
            let take = (BLOCK - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() < BLOCK {
                return;
            }
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(&self.tail);
            compress256(&mut self.state, &[block]);
            self.tail.clear();
        }
        let (blocks, rest) = data.as_chunks::<BLOCK>();
        compress256(&mut self.state, blocks);
        self.tail.extend_from_slice(rest);
    }

    /// The digest of everything hashed so far (the state itself is left as it is).
    pub fn finalize(&self) -> [u8; 32] {
        let mut state = self.state;
        let mut last = self.tail.clone();
        last.push(0x80);
        while last.len() % BLOCK != BLOCK - 8 {
            last.push(0);
        }
        last.extend_from_slice(&(self.length.wrapping_mul(8)).to_be_bytes());
        let (blocks, rest) = last.as_chunks::<BLOCK>();
        debug_assert!(rest.is_empty());
        compress256(&mut state, blocks);
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// The state to save (at most 105 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD + self.tail.len());
        out.push(VERSION);
        for word in self.state {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.tail);
        out
    }

    /// A saved state back; None when the bytes are not one (another version, cut short,
    /// or a tail that does not match the length).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (head, tail) = bytes.split_at_checked(HEAD)?;
        if head[0] != VERSION {
            return None;
        }
        let mut state = [0u32; 8];
        for (word, chunk) in state.iter_mut().zip(head[1..33].chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().ok()?);
        }
        let length = u64::from_be_bytes(head[33..HEAD].try_into().ok()?);
        if tail.len() as u64 != length % BLOCK as u64 {
            return None;
        }
        Some(ResumableSha256 {
            state,
            length,
            tail: tail.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn known_answers() {
        let hex = |d: [u8; 32]| hex::encode(d);
        assert_eq!(
            hex(ResumableSha256::new().finalize()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = ResumableSha256::new();
        h.update(b"abc");
        assert_eq!(
            hex(h.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn damaged_states_are_refused() {
        let mut h = ResumableSha256::new();
        h.update(&[7u8; 100]);
        let saved = h.to_bytes();
        assert_eq!(ResumableSha256::from_bytes(&saved), Some(h));
        assert_eq!(ResumableSha256::from_bytes(&saved[..saved.len() - 1]), None);
        assert_eq!(ResumableSha256::from_bytes(&saved[..10]), None);
        let mut other_version = saved.clone();
        other_version[0] = 2;
        assert_eq!(ResumableSha256::from_bytes(&other_version), None);
    }

    proptest! {
        /// Hashed in pieces, saved and resumed between any two of them, the digest is
        /// sha2's of the whole.
        #[test]
        fn pieces_saved_and_resumed_hash_as_sha2_does(
            data in proptest::collection::vec(any::<u8>(), 0..1000),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
            at.push(0);
            at.push(data.len());
            at.sort();
            let mut hash = ResumableSha256::new();
            for piece in at.windows(2) {
                hash.update(&data[piece[0]..piece[1]]);
                let saved = hash.to_bytes();
                prop_assert!(saved.len() < HEAD + BLOCK);
                hash = ResumableSha256::from_bytes(&saved).unwrap();
                prop_assert_eq!(hash.length(), piece[1] as u64);
            }
            prop_assert_eq!(hash.finalize().to_vec(), Sha256::digest(&data).to_vec());
        }
    }
}
