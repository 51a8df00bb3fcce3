//! Batch sequence numbers, kept across restarts without a write per batch.
//!
//! The spool's sequence file holds a mark that no number handed out exceeds. Numbers are
//! reserved in blocks of [`SEQUENCE_BLOCK`]: the mark is written once per block, before the
//! block's first number is used, and set back to the last number used at a clean stop. After a
//! crash the agent starts after the mark, so numbers may skip (the collector shows the skip as a
//! gap, which a crash is anyway) but never repeat.

use std::io;

use super::spool::Spool;

/// Sequence numbers reserved per write of the sequence file: at about five sealed batches per
/// second, one write (two fsyncs with [`super::FsyncPolicy::EveryBatch`]) every three minutes or
/// so instead of ten fsyncs per second; a crash skips at most this many numbers.
pub const SEQUENCE_BLOCK: u64 = 1024;

/// Hands out sequence numbers and keeps the spool's mark ahead of them.
#[derive(Debug)]
pub struct Sequencer {
    next: u64,
    /// No number up to this one is handed out without being recorded first: the spool's mark.
    reserved: u64,
    spool: Option<Spool>,
    /// Writes of the sequence file by this process.
    writes: u64,
}

impl Sequencer {
    /// Numbers after `last`, the highest one an earlier process may have used (the spool's
    /// [`Opened::last_sequence`](super::spool::Opened::last_sequence)); without a spool nothing
    /// is recorded.
    pub fn new(last: u64, spool: Option<Spool>) -> Sequencer {
        Sequencer {
            next: last + 1,
            reserved: last,
            spool,
            writes: 0,
        }
    }

    /// The next number. Its block is reserved first when it is the block's first; a failed
    /// write is returned with the number (which is used anyway: the agent keeps streaming) and
    /// tried again at the next call.
    pub fn take(&mut self) -> (u64, io::Result<()>) {
        let sequence = self.next;
        self.next += 1;
        let mut recorded = Ok(());
        if sequence > self.reserved
            && let Some(spool) = &self.spool
        {
            let mark = sequence - 1 + SEQUENCE_BLOCK;
            self.writes += 1;
            recorded = spool.save_sequence(mark);
            if recorded.is_ok() {
                self.reserved = mark;
            }
        }
        (sequence, recorded)
    }

    /// At a clean stop: records the last number used, so that the next process continues right
    /// after it instead of after the reserved block (or after an older mark, when the last
    /// reservation could not be written).
    pub fn finish(&mut self) -> io::Result<()> {
        let last = self.next - 1;
        match &self.spool {
            Some(spool) if self.reserved != last => {
                self.writes += 1;
                spool.save_sequence(last)?;
                self.reserved = last;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Writes of the sequence file by this process.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

#[cfg(test)]
mod tests;
