//! Benchmark records: a body of the requested metered size and one header carrying the
//! instant the record was meant to be sent, so any follower in this process can compute
//! the end-to-end latency from the record alone.

use bytes::Bytes;
use s2_sdk::types::{AppendInput, AppendRecord, AppendRecordBatch, Header, SequencedRecord};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SENT_AT_HEADER: &[u8] = b"t";
/// Metered overhead of a record with that header: 8 + 2 × 1 header + name + 8-byte value.
pub const RECORD_OVERHEAD: usize = 8 + 2 + SENT_AT_HEADER.len() + 8;

/// The process-wide origin of send instants (monotonic, shared by writers and followers).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub fn since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

/// Builds batches of identical-size records; the body bytes are shared, never copied.
#[derive(Clone)]
pub struct BatchMaker {
    body: Bytes,
    records_per_batch: usize,
    record_size: usize,
}

impl BatchMaker {
    pub fn new(record_size: usize, records_per_batch: usize) -> Self {
        let body_len = record_size.saturating_sub(RECORD_OVERHEAD);
        // Not all zeroes, so no layer below can compress it away.
        let body: Vec<u8> = (0..body_len)
            .map(|i| (i as u32).wrapping_mul(2654435761) as u8)
            .collect();
        Self {
            body: Bytes::from(body),
            records_per_batch,
            record_size: record_size.max(RECORD_OVERHEAD),
        }
    }

    pub fn batch_bytes(&self) -> usize {
        self.record_size * self.records_per_batch
    }

    pub fn records_per_batch(&self) -> usize {
        self.records_per_batch
    }

    /// A batch whose records all say they were sent at `sent_at`.
    pub fn batch(&self, sent_at: Instant) -> AppendInput {
        let stamp = since_epoch(sent_at).to_be_bytes().to_vec();
        let records = (0..self.records_per_batch).map(|_| {
            AppendRecord::new(self.body.clone())
                .and_then(|r| r.with_headers([Header::new(SENT_AT_HEADER, stamp.clone())]))
                .expect("a valid benchmark record")
        });
        AppendInput::new(AppendRecordBatch::try_from_iter(records).expect("a valid batch"))
    }
}

/// When the record was meant to be sent, if it is a benchmark record.
pub fn sent_at(record: &SequencedRecord) -> Option<Instant> {
    let header = record
        .headers
        .iter()
        .find(|h| h.name.as_ref() == SENT_AT_HEADER)?;
    let nanos = u64::from_be_bytes(header.value.as_ref().try_into().ok()?);
    Some(epoch() + Duration::from_nanos(nanos))
}

/// Metered size of a read record (what S2 counts for throughput and limits).
pub fn metered(record: &SequencedRecord) -> usize {
    8 + 2 * record.headers.len()
        + record
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum::<usize>()
        + record.body.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2_sdk::types::MeteredBytes;

    #[test]
    fn batches_have_the_requested_metered_size() {
        let maker = BatchMaker::new(8192, 4);
        let input = maker.batch(Instant::now());
        assert_eq!(input.records.metered_bytes(), 8192 * 4);
        assert_eq!(maker.batch_bytes(), 8192 * 4);
    }
}
