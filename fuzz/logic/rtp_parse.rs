//! RTP parsing on arbitrary bytes: must never panic, and whatever parses must survive a
//! rebuild with the writer field for field.

use sottovoce::rtp::{ExtensionForm, HeaderExtension, RtpHeader, RtpPacket};

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let Ok(packet) = RtpPacket::parse(data) else { return };
    let csrcs: Vec<u32> = packet.csrcs().collect();
    let extensions: Vec<HeaderExtension> = packet.extensions().collect();
    let form = packet.extension_profile().and_then(ExtensionForm::from_profile);
    if packet.extension_profile().is_some() && form.is_none() {
        // Opaque (non RFC 8285) extension blocks cannot be rebuilt from elements.
        return;
    }
    let header = RtpHeader {
        marker: packet.marker(),
        payload_type: packet.payload_type(),
        sequence_number: packet.sequence_number(),
        timestamp: packet.timestamp(),
        ssrc: packet.ssrc(),
        csrcs: &csrcs,
        extensions: &extensions,
        extension_form: form,
    };
    let padding = u8::try_from(packet.padding_len()).expect("padding count is one byte");
    let mut out = vec![0u8; header.len() + packet.payload().len() + usize::from(padding)];
    let len = header.write_packet(packet.payload(), padding, &mut out).expect("rebuild");
    let again = RtpPacket::parse(&out[..len]).expect("rebuilt packet parses");
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(again.csrcs().collect::<Vec<_>>(), csrcs);
    assert_eq!(again.extensions().collect::<Vec<_>>(), extensions);
    assert_eq!(
        (
            again.marker(),
            again.payload_type(),
            again.sequence_number(),
            again.timestamp(),
            again.ssrc()
        ),
        (
            packet.marker(),
            packet.payload_type(),
            packet.sequence_number(),
            packet.timestamp(),
            packet.ssrc()
        )
    );
    assert_eq!(again.padding_len(), packet.padding_len());
}
