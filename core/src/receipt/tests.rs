//! Receipts from a real store: the form's exact words in the language shown, the
//! choices, the grouped code, escaping, and a QR code that reads back as the portal link.

use tellus_protocol::storyteller_code::{code_hash, normalize_code};

use super::*;
use crate::model::{ConsentDraft, NewStory, StoryEdit, items, sample_project};
use crate::sync::Account;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_project(&sample_project()).unwrap();
    (dir, store)
}

fn story(store: &Store, title: &str) -> StoryId {
    store
        .create_story(&NewStory {
            title: title.into(),
            ..Default::default()
        })
        .unwrap()
        .id
}

fn give(language: &str, granted: &[&str], name: Option<&str>) -> ConsentDraft {
    let mut draft = ConsentDraft::give("storyteller-consent", 2, language, granted);
    draft.captured_by = "Reporter <R&D>".into();
    draft.name = name.map(str::to_string);
    draft
}

fn enrol(store: &Store) {
    store
        .save_sync_account(&Account {
            server_url: "https://stories.example.org/".into(),
            reporter_id: "r1".into(),
            project_id: sample_project().id,
            project_etag: None,
            revoked: false,
            server_pin: None,
        })
        .unwrap();
}

/// The dark modules of the SVG's path (`M{x} {y}h{w}v{h}H{x}V{y}`, as `qrcode` draws
/// them), painted onto a greyscale canvas and read back with `rqrr`.
fn decode_svg(svg: &str) -> String {
    let number = |s: &str, key: &str| -> usize {
        let at = s.find(&format!("{key}=\"")).expect(key) + key.len() + 2;
        s[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (w, h) = (number(svg, "width"), number(svg, "height"));
    let d_at = svg.find(" d=\"").expect("a path") + 4;
    let d = svg[d_at..].split('"').next().unwrap();
    let mut dark = vec![false; w * h];
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> = rect
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect();
        let (x, y, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                dark[yy * w + xx] = true;
            }
        }
    }
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| if dark[y * w + x] { 0 } else { 255 },
        );
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("the QR code decodes").1
}

#[test]
fn an_english_receipt_has_the_forms_words_each_choice_the_code_and_a_readable_qr() {
    let (_dir, store) = store();
    enrol(&store);
    let id = story(&store, "Waiting for the bus");
    let event = store
        .record_consent(id, &give("en", &[items::RECORD, items::RESEARCH_USE], None))
        .unwrap();
    let r = store.consent_receipt(id).unwrap();
    let form = sample_project()
        .form("storyteller-consent", 2)
        .unwrap()
        .clone();
    assert_eq!(r.language, "en");
    // The exact words of the form in English, each with its answer.
    assert!(r.text.contains(form.intro["en"].trim()), "{}", r.text);
    for item in &form.items {
        let granted = [items::RECORD, items::RESEARCH_USE].contains(&item.key.as_str());
        let mark = if granted { "[x]" } else { "[ ]" };
        let answer = if granted { "Yes" } else { "No" };
        let req = if item.required { " (required)" } else { "" };
        let line = format!("{mark} {answer}: {}{req}", item.label["en"]);
        assert!(r.text.contains(&line), "missing {line:?} in\n{}", r.text);
    }
    assert!(
        r.text
            .contains("Working together? Stories of co-production in local services")
    );
    assert!(
        r.text
            .contains("stories@coproduction.example, 0161 496 0000")
    );
    assert!(
        r.text
            .contains(&format!("Date: {}", &event.captured_at.to_string()[..10]))
    );
    // The code: 4 groups of 5, the one kept, whose hash the event carries.
    let code = store.storyteller_code(id).unwrap().unwrap();
    assert_eq!(r.code.len(), 23);
    assert_eq!(r.code.split('-').count(), 4);
    assert_eq!(normalize_code(&r.code).as_deref(), Some(code.as_str()));
    assert!(r.text.contains(&format!("Your personal code: {}", r.code)));
    assert_eq!(event.code_hash, code_hash(&sample_project().id, &code));
    // The portal link carries the code in its fragment, and the QR code holds it.
    let url = r.portal_url.clone().unwrap();
    assert_eq!(url, format!("https://stories.example.org/s#{}", r.code));
    assert!(r.text.contains(&url));
    let svg_at = r.html.find("<svg").expect("an inline SVG");
    let svg_end = r.html[svg_at..].find("</svg>").unwrap() + svg_at + 6;
    assert_eq!(decode_svg(&r.html[svg_at..svg_end]), url);
    assert!(r.html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(!r.html.contains("<?xml"), "the SVG sits inside HTML");
    assert!(
        !r.html.contains("<script") && !r.html.contains("src="),
        "self-contained"
    );
    // A shared page's link can be tapped (and the page fits 320 px: tests/web).
    assert!(
        r.html
            .contains(&format!("<a href=\"{url}\" rel=\"noreferrer\">{url}</a>"))
    );
}

#[test]
fn a_spanish_receipt_is_in_the_forms_spanish_words_and_everything_is_escaped() {
    let (_dir, store) = store();
    let id = story(&store, "<script>alert('x')</script> & \"more\"");
    store
        .record_consent(
            id,
            &give(
                "es",
                &[items::RECORD, items::SHARE_PUBLICLY, items::CREDIT_BY_NAME],
                Some("Ana <b>\"la\"</b> & 'Pérez'"),
            ),
        )
        .unwrap();
    let r = store.consent_receipt(id).unwrap();
    let form = sample_project()
        .form("storyteller-consent", 2)
        .unwrap()
        .clone();
    assert_eq!(r.language, "es");
    assert!(r.text.starts_with("Su comprobante de consentimiento\n"));
    assert!(r.text.contains(form.intro["es"].trim()));
    for item in &form.items {
        let granted = [items::RECORD, items::SHARE_PUBLICLY, items::CREDIT_BY_NAME]
            .contains(&item.key.as_str());
        let label = &item.label["es"];
        let answer = if granted { "Sí" } else { "No" };
        assert!(r.text.contains(label.as_str()), "{label}");
        assert!(
            r.text
                .lines()
                .any(|l| l.contains(label.as_str()) && l.contains(&format!("] {answer}: "))),
            "{label}: {answer}"
        );
        assert!(r.html.contains(&escape_html(label)));
    }
    assert!(
        !r.text.contains(&form.items[0].label["en"]),
        "no English item words"
    );
    assert!(r.text.contains("Su código personal: "));
    // Not enrolled: no link, and the receipt says where to ask.
    assert_eq!(r.portal_url, None);
    assert!(!r.html.contains("<svg"));
    assert!(r.text.contains("Pida al proyecto la dirección"));
    // The title and the storyteller's name appear only escaped in the page.
    assert!(r.text.contains("Ana <b>\"la\"</b> & 'Pérez'"));
    assert!(!r.html.contains("<script>") && !r.html.contains("<b>"));
    assert!(
        r.html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;")
    );
    assert!(
        r.html
            .contains("Ana &lt;b&gt;&quot;la&quot;&lt;/b&gt; &amp; &#39;Pérez&#39;")
    );
    assert!(r.html.contains("<html lang=\"es\">"));
}

#[test]
fn one_code_per_story_kept_through_amendments_and_erased_on_withdrawal() {
    let (_dir, store) = store();
    let id = story(&store, "A story");
    let other = story(&store, "Another");
    assert_eq!(store.storyteller_code(id).unwrap(), None);
    let given = store
        .record_consent(
            id,
            &give("en", &[items::RECORD, items::SHARE_PUBLICLY], None),
        )
        .unwrap();
    store
        .record_consent(other, &give("en", &[items::RECORD], None))
        .unwrap();
    let code = store.storyteller_code(id).unwrap().unwrap();
    assert_ne!(
        store.storyteller_code(other).unwrap().unwrap(),
        code,
        "a code per story"
    );
    let mut amend = ConsentDraft::amend(&[items::RECORD]);
    amend.captured_by = "R".into();
    let amended = store.record_consent(id, &amend).unwrap();
    assert_eq!(
        store.storyteller_code(id).unwrap(),
        Some(code.clone()),
        "kept"
    );
    assert_eq!(amended.code_hash, given.code_hash);
    let r = store.consent_receipt(id).unwrap();
    assert!(r.text.contains("Last changed: "));
    assert!(
        r.text
            .lines()
            .any(|l| l.contains("publicly") && l.starts_with("[ ] No: "))
    );

    let mut withdraw = ConsentDraft::withdraw(true);
    withdraw.captured_by = "R".into();
    let withdrawn = store.record_consent(id, &withdraw).unwrap();
    assert_eq!(withdrawn.code_hash, None);
    assert_eq!(
        store.storyteller_code(id).unwrap(),
        None,
        "erased on withdrawal"
    );
    assert!(matches!(
        store.consent_receipt(id),
        Err(Error::ConsentRequired(_))
    ));
    // Given again: a new code.
    store
        .record_consent(id, &give("en", &[items::RECORD], None))
        .unwrap();
    let again = store.storyteller_code(id).unwrap().unwrap();
    assert_ne!(again, code);
    // Nothing else of the story changes the code.
    store
        .edit_story(
            id,
            &StoryEdit {
                title: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(store.storyteller_code(id).unwrap(), Some(again));
}

#[test]
fn the_code_is_forgotten_only_long_after_the_server_holds_all_its_consent() {
    let (_dir, store) = store();
    let id = story(&store, "A story");
    store
        .record_consent(id, &give("en", &[items::RECORD], None))
        .unwrap();
    store.mark_ready(id).unwrap();
    let later = |days: i64| {
        crate::model::Timestamp::from_millis(
            crate::model::Timestamp::now().as_millis() + days * 24 * 3600 * 1000,
        )
    };
    // Not sent yet: kept however long.
    assert_eq!(store.forget_delivered_codes(later(365)).unwrap(), 0);
    store.fill_outbox().unwrap();
    assert_eq!(
        store.forget_delivered_codes(later(365)).unwrap(),
        0,
        "still pending"
    );
    for e in store.consent_events(id).unwrap() {
        store.mark_delivered(&e.id.to_string()).unwrap();
    }
    assert_eq!(
        store.forget_delivered_codes(later(29)).unwrap(),
        0,
        "kept to reprint"
    );
    assert!(store.consent_receipt(id).is_ok());
    // An amendment not delivered yet keeps it too.
    let mut amend = ConsentDraft::amend(&[items::RECORD, items::RESEARCH_USE]);
    amend.captured_by = "R".into();
    store.record_consent(id, &amend).unwrap();
    assert_eq!(
        store.forget_delivered_codes(later(365)).unwrap(),
        0,
        "amendment unsent"
    );
    store.fill_outbox().unwrap();
    for e in store.consent_events(id).unwrap() {
        store.mark_delivered(&e.id.to_string()).unwrap();
    }
    assert_eq!(
        store
            .forget_delivered_codes(later(crate::store::CODE_KEPT_AFTER_DELIVERY_DAYS + 1))
            .unwrap(),
        1
    );
    assert_eq!(store.storyteller_code(id).unwrap(), None);
    let err = store.consent_receipt(id).unwrap_err();
    assert!(err.to_string().contains("holds no personal code"), "{err}");
    // A later amendment (or consent from before receipts existed, amended) makes a new one.
    let mut amend = ConsentDraft::amend(&[items::RECORD]);
    amend.captured_by = "R".into();
    let event = store.record_consent(id, &amend).unwrap();
    let code = store.storyteller_code(id).unwrap().unwrap();
    assert_eq!(event.code_hash, code_hash(&sample_project().id, &code));
    assert!(store.consent_receipt(id).is_ok());
}
