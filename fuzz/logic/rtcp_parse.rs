//! Compound RTCP parsing on arbitrary bytes: must never panic, and whatever parses and can
//! be written again must parse back to the same packets.

use sottovoce::rtp::rtcp;

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    for packet in rtcp::CompoundIter::new(data) {
        let _ = packet;
    }
    let Ok(packets) = rtcp::parse_compound(data) else { return };
    let mut out = vec![0u8; rtcp::compound_len(&packets)];
    if let Ok(len) = rtcp::write_compound(&packets, &mut out) {
        assert_eq!(len, out.len());
        assert_eq!(rtcp::parse_compound(&out).expect("rewritten compound parses"), packets);
    }
}
