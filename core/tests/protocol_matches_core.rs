//! The wire types in tellus-protocol mirror the core's model: a consent event the phone
//! stores serialises to JSON the server reads as the same event, and the server's fold
//! of consent agrees with the phone's.

use tellus_core::model::{
    ConsentEvent, ConsentEventId, ConsentKind, ConsentMethod, ConsentState, ParticipantId, StoryId,
    Timestamp,
};
use tellus_protocol::{ConsentEventDoc, ConsentSummary};

fn event(
    story: StoryId,
    kind: ConsentKind,
    granted: &[&str],
    method: ConsentMethod,
) -> ConsentEvent {
    let given = kind == ConsentKind::Given;
    ConsentEvent {
        id: ConsentEventId::new(),
        story_id: story,
        participant_id: ParticipantId::new(),
        kind,
        form_id: given.then(|| "storyteller-consent".to_string()),
        form_version: given.then_some(2),
        language: given.then(|| "es".to_string()),
        text_sha256: given.then(|| "ab".repeat(32)),
        granted: granted.iter().map(|s| s.to_string()).collect(),
        method,
        captured_by: "reporter".into(),
        captured_at: Timestamp::now(),
        erase_audio: kind == ConsentKind::Withdrawn,
        code_hash: None,
    }
}

#[test]
fn consent_events_cross_the_wire_unchanged_and_fold_the_same() {
    let story = StoryId::new();
    let events = [
        event(
            story,
            ConsentKind::Given,
            &["record", "share_publicly", "credit_by_name"],
            ConsentMethod::AppCheckbox,
        ),
        event(
            story,
            ConsentKind::Amended,
            &["record"],
            ConsentMethod::Verbal { at: 61_500 },
        ),
        event(story, ConsentKind::Withdrawn, &[], ConsentMethod::Signed),
        event(
            story,
            ConsentKind::Given,
            &["record", "research_use"],
            ConsentMethod::AppCheckbox,
        ),
    ];
    let mut wire = Vec::new();
    for e in &events {
        let json = serde_json::to_value(e).unwrap();
        let doc: ConsentEventDoc = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            json,
            "the server's view is the same JSON"
        );
        wire.push(doc);
    }
    for n in 1..=events.len() {
        let phone = ConsentState::fold(&events[..n]);
        let server = ConsentSummary::fold(&wire[..n]);
        assert_eq!(
            serde_json::to_value(server.status).unwrap(),
            serde_json::to_value(phone.status).unwrap(),
            "after {n} events"
        );
        assert_eq!(server.granted, phone.granted, "after {n} events");
        assert_eq!(server.form_version, phone.form_version, "after {n} events");
        assert_eq!(server.events, phone.events);
        for item in ["record", "share_publicly", "research_use", "credit_by_name"] {
            assert_eq!(
                server.grants(item),
                phone.grants(item),
                "{item} after {n} events"
            );
        }
    }
}
