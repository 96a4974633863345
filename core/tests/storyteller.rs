//! Issue 21, the phone's half: the storyteller's own changes on the server's portal come
//! back to the phone at its next sync, before anything else of the story is sent. Real
//! server on loopback, the portal driven over HTTP as a browser without script would
//! (GET the form, POST the code with the double-submit token, POST the change).

mod support;

use std::sync::Arc;

use support::*;
use tellus_core::model::{ConsentDraft, ConsentMethod, ConsentStatus, RecordingState, items};
use tellus_core::sync::transport::TransportFuture;
use tellus_core::sync::{Method, Network, PreparedRequest, Transport};

/// A storyteller's browser on the portal: cookies by hand, redirects not followed.
struct Portal {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_string()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            assert!(
                v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
                "{v}"
            );
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Portal {
    fn new(server: &Server) -> Portal {
        Portal {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
            cookies: Vec::new(),
        }
    }

    fn keep_cookies(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            self.cookies.push((name.into(), value.into()));
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> String {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        self.keep_cookies(&r);
        r.text().await.unwrap()
    }

    async fn post(&mut self, path: &str, body: String) -> reqwest::Response {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&r);
        r
    }

    /// Enters the code as the receipt shows it; returns the story page's form token.
    async fn open(&mut self, code: &str) -> String {
        let entry = self.get("/s?lang=en").await;
        let csrf = hidden(&entry, "csrf");
        let r = self
            .post(
                "/s",
                form(&[("code", code), ("csrf", &csrf), ("lang", "en")]),
            )
            .await;
        assert_eq!(r.status(), 303, "the code opens the story");
        hidden(&self.get("/s/story?lang=en").await, "csrf")
    }

    async fn withdraw(&mut self, code: &str, erase: bool) {
        let csrf = self.open(code).await;
        let erase = if erase { "yes" } else { "no" };
        let r = self
            .post(
                "/s/withdraw",
                form(&[("csrf", &csrf), ("erase", erase), ("lang", "en")]),
            )
            .await;
        assert_eq!(r.status(), 303, "withdrawn");
    }

    async fn narrow_to(&mut self, code: &str, keep: &[&str]) {
        let csrf = self.open(code).await;
        let mut fields = vec![("csrf", csrf.as_str()), ("lang", "en")];
        let keys: Vec<String> = keep.iter().map(|k| format!("keep_{k}")).collect();
        for k in &keys {
            fields.push((k.as_str(), "on"));
        }
        let r = self.post("/s/narrow", form(&fields)).await;
        assert_eq!(r.status(), 303, "narrowed");
    }
}

fn requests(phone: &Phone) -> Vec<(Method, String)> {
    phone.counter.requests.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_with_erasure_on_the_portal_reaches_the_phone_before_its_audio_is_sent() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(400_000, 1);
    let (other, other_recording) = phone.story_with_recording(300_000, 2);
    // On a metered network: consent and document go, the audio waits for Wi-Fi.
    phone.engine.set_network(Network::Metered);
    let first = phone.engine.sync().await.unwrap();
    assert_eq!(first.audio_waiting_for_unmetered, 2);
    assert_eq!(first.consent_changes_received, 0);

    // The storyteller, with the code from their receipt, withdraws and asks for erasure.
    let receipt = phone.store.consent_receipt(story).unwrap();
    assert_eq!(
        receipt.portal_url.as_deref(),
        Some(format!("{}/s#{}", server.base, receipt.code).as_str())
    );
    Portal::new(&server).withdraw(&receipt.code, true).await;

    phone.counter.requests.lock().unwrap().clear();
    phone.engine.set_network(Network::Unmetered);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.consent_changes_received, 1, "{report:?}");
    // Withdrawn on the phone, by the storyteller, the audio erased, the code gone.
    let consent = phone.store.consent(story).unwrap();
    assert_eq!(consent.status, ConsentStatus::Withdrawn);
    let events = phone.store.consent_events(story).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.method, ConsentMethod::Storyteller);
    assert!(last.erase_audio);
    assert!(
        !phone.audio_path(&recording).exists(),
        "the audio is erased"
    );
    assert_eq!(
        phone.store.recordings(story).unwrap()[0].state,
        RecordingState::Erased
    );
    assert_eq!(phone.store.storyteller_code(story).unwrap(), None);
    assert!(phone.store.consent_receipt(story).is_err());
    // Nothing of the story was uploaded after: its consent log was read first, and the
    // only uploads of this sync are the other story's.
    let sent = requests(&phone);
    let story_path = format!("/stories/{story}/consent");
    assert!(sent.contains(&(Method::Get, format!("{}/api/v1{story_path}", server.base))));
    assert!(
        sent.iter()
            .all(|(m, url)| *m == Method::Get || !url.contains(&story.to_string())),
        "{sent:?}"
    );
    let uploads_begun = sent
        .iter()
        .filter(|(m, url)| *m == Method::Post && url.contains("/uploads"))
        .count();
    assert_eq!(uploads_begun, 1, "only the other story's upload: {sent:?}");
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(
        report.delivered[0].recording_id,
        other_recording.id.to_string()
    );
    assert!(!server.audio_exists(recording.id).await);
    assert!(server.audio_exists(other_recording.id).await);
    // Not sent back: the storyteller's event is delivered already.
    assert_eq!(report.consent_events_sent, 0);
    assert_eq!(
        phone.store.consent(other).unwrap().status,
        ConsentStatus::Active
    );

    // Withdrawn here, the story is not asked about again.
    phone.counter.requests.lock().unwrap().clear();
    phone.engine.sync().await.unwrap();
    assert!(
        !requests(&phone)
            .iter()
            .any(|(_, url)| url.contains(&story.to_string())),
        "{:?}",
        requests(&phone)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowing_on_the_portal_applies_as_an_amendment_and_supersedes_an_unsent_one() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let story = phone
        .store
        .create_story(&tellus_core::model::NewStory {
            title: "The day centre".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    let mut give = ConsentDraft::give(
        "storyteller-consent",
        2,
        "en",
        &[items::RECORD, items::SHARE_PUBLICLY, items::CREDIT_BY_NAME],
    );
    give.captured_by = "reporter".into();
    give.name = Some("Dee Example".into());
    phone.store.record_consent(story, &give).unwrap();
    phone.store.mark_ready(story).unwrap();
    phone.engine.sync().await.unwrap();
    let code = phone.store.consent_receipt(story).unwrap().code;

    // Offline, the reporter records an amendment that has not gone yet; later the
    // storyteller stops public sharing and being named on the portal: their newer word
    // stands (an amendment captured after the portal's change would be sent after it,
    // see `consent_import`'s tests).
    let mut amend = ConsentDraft::amend(&[
        items::RECORD,
        items::SHARE_PUBLICLY,
        items::CREDIT_BY_NAME,
        items::RESEARCH_USE,
    ]);
    amend.captured_by = "reporter".into();
    let unsent = phone.store.record_consent(story, &amend).unwrap();
    Portal::new(&server)
        .narrow_to(&code, &[items::RECORD])
        .await;

    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.consent_changes_received, 1, "{report:?}");
    assert_eq!(
        report.consent_events_sent, 0,
        "the older change is not sent"
    );
    let consent = phone.store.consent(story).unwrap();
    assert_eq!(consent.status, ConsentStatus::Active);
    assert_eq!(
        consent
            .granted
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [items::RECORD]
    );
    assert_eq!(
        phone.store.identity(story).unwrap().name,
        None,
        "the name goes"
    );
    let item = phone
        .store
        .outbox_items(story)
        .unwrap()
        .into_iter()
        .find(|i| i.item_id == unsent.id.to_string())
        .unwrap();
    assert_eq!(item.state, tellus_core::sync::ItemState::Dropped);
    assert_eq!(
        item.last_error.as_deref(),
        Some(tellus_core::store::SUPERSEDED)
    );
    // The storyteller keeps their code; the receipt shows what stands now.
    let receipt = phone.store.consent_receipt(story).unwrap();
    assert_eq!(receipt.code, code);
    assert!(
        receipt
            .text
            .lines()
            .any(|l| l.contains("shared publicly") && l.starts_with("[ ] No: ")),
        "{}",
        receipt.text
    );
    // The server and the phone agree.
    let on_server = server.count(&format!(
        "SELECT COUNT(*) FROM consent_events WHERE story_id = '{story}'"
    ));
    assert_eq!(
        on_server as usize,
        phone.store.consent_events(story).unwrap().len() - 1
    );
}

/// An older server, without the consent log route: answers 404 there, as it does for
/// any route it does not have; everything else goes through to the real server.
struct OlderServer(Arc<dyn Transport>);

impl Transport for OlderServer {
    fn send(&self, request: PreparedRequest) -> TransportFuture<'_> {
        if request.method == Method::Get && request.url.ends_with("/consent") {
            return Box::pin(async { Ok(response(404)) });
        }
        self.0.send(request)
    }

    fn send_counting(
        &self,
        request: PreparedRequest,
        sent: Arc<std::sync::atomic::AtomicU64>,
    ) -> TransportFuture<'_> {
        self.0.send_counting(request, sent)
    }

    fn counts_sent_bytes(&self) -> bool {
        self.0.counts_sent_bytes()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_server_without_the_consent_log_does_not_fail_the_sync() {
    let server = Server::start().await;
    let phone = Phone::enrolled_through(
        &server,
        &server.base,
        Arc::new(OlderServer(http_transport())),
    )
    .await;
    let (story, recording) = phone.story_with_recording(200_000, 3);
    phone.engine.set_network(Network::Metered);
    phone.engine.sync().await.unwrap();
    phone.engine.set_network(Network::Unmetered);
    let report = phone.engine.sync().await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(report.delivered.len(), 1);
    assert!(
        requests(&phone)
            .iter()
            .any(|(m, url)| *m == Method::Get && url.ends_with(&format!("{story}/consent"))),
        "the phone asked"
    );
    assert!(server.audio_exists(recording.id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_stories_are_asked_about_while_their_code_is_kept_then_once_a_day() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    for i in 0..5 {
        phone.story_with_recording(50_000, 10 + i);
    }
    let first = phone.engine.sync().await.unwrap();
    assert_eq!(first.delivered.len(), 5);
    let consent_reads = |phone: &Phone| {
        requests(phone)
            .iter()
            .filter(|(m, url)| *m == Method::Get && url.ends_with("/consent"))
            .count()
    };
    // The codes are kept (the weeks after the interview): every sync asks, one GET each.
    phone.counter.reset();
    let second = phone.engine.sync().await.unwrap();
    assert!(!second.sent_anything(), "{second:?}");
    assert_eq!(consent_reads(&phone), 5);
    // Once the codes are gone, a story read today is not asked about again today.
    let later = tellus_core::model::Timestamp::from_millis(
        tellus_core::model::Timestamp::now().as_millis()
            + (tellus_core::store::CODE_KEPT_AFTER_DELIVERY_DAYS + 1) * 24 * 3600 * 1000,
    );
    assert_eq!(phone.store.forget_delivered_codes(later).unwrap(), 5);
    phone.counter.reset();
    phone.engine.sync().await.unwrap();
    assert_eq!(consent_reads(&phone), 0, "{:?}", requests(&phone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_used_before_the_story_arrived_withdraws_it_as_its_consent_arrives() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(250_000, 4);
    let code = phone.store.consent_receipt(story).unwrap().code;

    // The server has never heard of the story: the portal takes the withdrawal and
    // keeps it for when the story's consent with this code's hash arrives.
    let mut portal = Portal::new(&server);
    let entry = portal.get("/s?lang=en").await;
    let csrf = hidden(&entry, "csrf");
    let r = portal
        .post(
            "/s",
            form(&[("code", &code), ("csrf", &csrf), ("lang", "en")]),
        )
        .await;
    assert_eq!(r.status(), 200, "not opened: nothing to show yet");
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    let r = portal
        .post(
            "/s/withdraw",
            form(&[("csrf", &csrf), ("erase", "yes"), ("lang", "en")]),
        )
        .await;
    assert_eq!(r.status(), 200);

    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.consent_events_sent, 1, "{report:?}");
    assert_eq!(report.consent_changes_received, 1, "{report:?}");
    assert_eq!(
        phone.store.consent(story).unwrap().status,
        ConsentStatus::Withdrawn
    );
    assert!(!phone.audio_path(&recording).exists());
    assert_eq!(report.documents_sent, 0, "nothing else of the story went");
    assert!(report.delivered.is_empty());
    assert!(
        !requests(&phone)
            .iter()
            .any(|(m, url)| *m == Method::Post && url.contains("/uploads")),
        "{:?}",
        requests(&phone)
    );
    assert_eq!(server.audio_files().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_used_while_the_audio_is_half_uploaded_ends_the_upload_and_erases_the_audio() {
    use std::sync::atomic::Ordering;
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(20 * 1024 * 1024, 5);
    // One 8 MiB chunk gets through, then the network fails.
    phone.counter.in_chunks();
    phone.counter.fail_patches_after.store(1, Ordering::SeqCst);
    assert!(phone.engine.sync().await.is_err());
    assert!(
        server.count("SELECT MAX(\"offset\") FROM uploads") > 0,
        "half uploaded"
    );

    let code = phone.store.consent_receipt(story).unwrap().code;
    Portal::new(&server).withdraw(&code, true).await;

    phone
        .counter
        .fail_patches_after
        .store(u64::MAX, Ordering::SeqCst);
    phone.counter.reset();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.consent_changes_received, 1, "{report:?}");
    assert_eq!(report.local_audio_removed, 1);
    assert!(report.delivered.is_empty());
    assert_eq!(phone.counter.count(Method::Patch), 0, "no byte more of it");
    assert_eq!(phone.counter.count(Method::Put), 0);
    assert!(!phone.audio_path(&recording).exists());
    assert_eq!(
        phone.store.delivery_state(story).unwrap(),
        tellus_core::sync::DeliveryState::Withdrawn { propagated: true }
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM uploads"), 0);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.audio_files().await, 0);
}
