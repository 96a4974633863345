//! Background sync against the real project server on loopback (in this process), with
//! real stores in temp folders, a fault-injecting proxy and transports that fail on
//! purpose.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::proxy::{Faults, Proxy};
use support::{PROJECT, Phone, Server, wait_until};
use tellus_core::model::{ConsentDraft, NewNote};
use tellus_core::sync::{
    DeliveryState, Method, Network, NetworkNeed, NextAttemptReason, SyncError, SyncSettings,
};
use tellus_server::Role;
use tellus_testkit::fixtures::sha256_hex;

/// Sizes from 100 kB up to 3 MB, spread geometrically over `n` stories.
fn sizes(n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let t = i as f64 / (n - 1).max(1) as f64;
            (100_000.0 * (30.0f64).powf(t)) as usize
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_stories_are_delivered_verified_and_a_second_sync_sends_nothing() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let mut recordings = Vec::new();
    for (i, size) in sizes(99).into_iter().enumerate() {
        recordings.push(phone.story_with_recording(size, i as u64 + 1));
    }
    // One long interview.
    recordings.push(phone.story_with_recording(50 * 1024 * 1024, 7777));
    let payload: u64 = recordings.iter().map(|(_, r)| r.bytes).sum();

    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 100, "{report:?}");
    assert_eq!(report.documents_sent, 100);
    assert_eq!(report.consent_events_sent, 100);
    assert!(report.failures.is_empty() && report.parked.is_empty());
    assert_eq!(report.audio_bytes_confirmed, payload);
    for (story, recording) in &recordings {
        let receipt = report
            .delivered
            .iter()
            .find(|r| r.recording_id == recording.id.to_string())
            .unwrap();
        assert_eq!(receipt.sha256, recording.sha256);
        assert_eq!(receipt.bytes, recording.bytes);
        // Byte-identical on the server's disk.
        assert_eq!(
            sha256_hex(&server.audio_bytes(recording.id).await),
            recording.sha256
        );
        assert_eq!(
            phone.store.delivery_state(*story).unwrap(),
            DeliveryState::Delivered {
                local_audio_removed: false
            }
        );
        // Removing local audio is a setting, off by default.
        assert!(phone.audio_path(recording).exists());
    }
    assert_eq!(phone.store.receipts().unwrap().len(), 100);
    assert_eq!(server.count("SELECT COUNT(*) FROM recordings"), 100);
    assert_eq!(server.count("SELECT COUNT(*) FROM uploads"), 0);
    assert_eq!(server.spooled_uploads().await, 0);

    phone.counter.reset();
    let again = phone.engine.sync().await.unwrap();
    assert!(!again.sent_anything(), "{again:?}");
    for method in [Method::Post, Method::Put, Method::Patch, Method::Delete] {
        assert_eq!(
            phone.counter.count(method),
            0,
            "{method:?} on a second sync"
        );
    }
    assert_eq!(phone.counter.body_bytes.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_cutting_stalling_proxy_everything_arrives_once_within_1_15x() {
    let server = Server::start().await;
    let proxy = Proxy::start(
        server.addr,
        Faults {
            cut_every: 3 * 1024 * 1024 + 17,
            latency: Duration::from_micros(200),
            stall_every: 7,
            stall_for: Duration::from_secs(5),
            bytes_per_sec: 0,
            max_cuts: 0,
        },
    )
    .await;
    let phone = Phone::enrolled(&server, &proxy.url()).await;
    let mut recordings = Vec::new();
    for i in 0..8 {
        recordings.push(phone.story_with_recording(1_000_000 + i * 1_300_000, i as u64 + 50));
    }
    let payload: u64 = recordings.iter().map(|(_, r)| r.bytes).sum();
    let sent_before = proxy.sent();

    let reports = phone.sync_until_done(10).await;
    let delivered: usize = reports
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.delivered.len())
        .sum();
    assert_eq!(delivered, recordings.len(), "{reports:?}");
    for (story, recording) in &recordings {
        assert_eq!(
            sha256_hex(&server.audio_bytes(recording.id).await),
            recording.sha256
        );
        assert!(phone.delivered(*story));
    }
    // No duplicate anywhere: one recording each, nothing left half-way.
    assert_eq!(
        server.count("SELECT COUNT(*) FROM recordings"),
        recordings.len() as i64
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM uploads"), 0);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.audio_files().await, recordings.len());
    let sent = proxy.sent() - sent_before;
    let ratio = sent as f64 / payload as f64;
    println!(
        "cutting proxy: {} cuts, {} connections, {sent} bytes sent for {payload} bytes of audio = {ratio:.3}x",
        proxy.cuts.load(Ordering::SeqCst),
        proxy.connections.load(Ordering::SeqCst)
    );
    assert!(
        proxy.cuts.load(Ordering::SeqCst) >= 5,
        "the proxy must have cut"
    );
    assert!(ratio <= 1.15, "sent {ratio:.3}x the payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_withdrawn_while_its_audio_is_half_uploaded_ends_with_no_audio_and_a_tombstone() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(30 * 1024 * 1024, 9);
    // Two 8 MiB chunks get through, then the network fails.
    phone.counter.in_chunks();
    phone.counter.fail_patches_after.store(2, Ordering::SeqCst);
    let first = phone.engine.sync().await;
    assert!(matches!(first, Err(SyncError::Unreachable(_))), "{first:?}");
    assert_eq!(server.count("SELECT COUNT(*) FROM uploads"), 1);
    assert!(server.count("SELECT MAX(\"offset\") FROM uploads") > 0);
    assert!(matches!(
        phone.store.delivery_state(story).unwrap(),
        DeliveryState::Uploading { percent } if percent > 0 && percent < 100
    ));

    // The storyteller withdraws and asks for the audio to be deleted.
    let mut withdraw = ConsentDraft::withdraw(true);
    withdraw.captured_by = "reporter".into();
    phone.store.record_consent(story, &withdraw).unwrap();
    phone
        .counter
        .fail_patches_after
        .store(u64::MAX, Ordering::SeqCst);
    phone.counter.reset();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.withdrawals_propagated, 1, "{report:?}");
    assert_eq!(report.uploads_terminated, 1);
    assert_eq!(report.local_audio_removed, 1);
    assert!(report.delivered.is_empty());
    // Nothing of the story was sent after the withdrawal except terminating the upload.
    assert_eq!(phone.counter.count(Method::Patch), 0);
    assert_eq!(phone.counter.count(Method::Put), 0);

    assert_eq!(server.count("SELECT COUNT(*) FROM uploads"), 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM recordings"), 0);
    assert_eq!(server.spooled_uploads().await, 0);
    assert_eq!(server.audio_files().await, 0);
    assert!(!phone.audio_path(&recording).exists());
    assert_eq!(
        phone.store.delivery_state(story).unwrap(),
        DeliveryState::Withdrawn { propagated: true }
    );
    let feed = server.feed().await;
    let tombstone = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "withdrawal" && c["story_id"] == story.to_string());
    assert!(tombstone, "{feed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_upload_is_one_patch_checked_against_the_recorded_hash_with_progress_on_the_way() {
    use base64::Engine;
    let server = Server::start().await;
    // A link of 16 MiB/s: the 24 MiB body is on its way for about a second and a half.
    let proxy = Proxy::throttled(server.addr, 16 * 1024 * 1024).await;
    let phone = Phone::enrolled(&server, &proxy.url()).await;
    let (_, recording) = phone.story_with_recording(24 * 1024 * 1024, 21);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let _sub = phone
        .engine
        .subscribe_progress(move |p: tellus_core::sync::SyncProgress| {
            s.lock().unwrap().push(p.bytes_sent);
        });
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1, "{report:?}");

    let patches = phone.counter.patch_log.lock().unwrap().clone();
    let recorded = hex::decode(&recording.sha256).unwrap();
    let checksum = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(recorded)
    );
    assert_eq!(
        patches,
        [(0, recording.bytes, Some(checksum))],
        "one PATCH of the whole file, checked against the hash taken while recording"
    );
    let seen = seen.lock().unwrap().clone();
    let on_the_way: Vec<u64> = seen
        .iter()
        .copied()
        .filter(|&b| b > 0 && b < recording.bytes)
        .collect();
    assert!(
        on_the_way.len() >= 2 && on_the_way.windows(2).all(|w| w[0] <= w[1]),
        "progress moves while the body is on its way: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&recording.bytes));
    assert_eq!(
        sha256_hex(&server.audio_bytes(recording.id).await),
        recording.sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_that_changed_after_recording_is_parked_and_never_delivered() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(3_000_000, 22);
    // One byte of the file changes on the phone (same size): storage gone bad.
    let path = phone.audio_path(&recording);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1_234_567] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let report = phone.engine.sync().await.unwrap();
    assert!(report.delivered.is_empty(), "{report:?}");
    assert_eq!(report.parked.len(), 1, "{report:?}");
    assert!(
        report.parked[0].contains("changed after it was recorded"),
        "{report:?}"
    );
    // Refused by the server at the end of the one PATCH; not sent again in chunks.
    assert_eq!(phone.counter.count(Method::Patch), 1);
    assert_eq!(server.count("SELECT COUNT(*) FROM recordings"), 0);
    assert_eq!(server.audio_files().await, 0);
    assert_eq!(server.count("SELECT MAX(\"offset\") FROM uploads"), 0);
    assert!(matches!(
        phone.store.delivery_state(story).unwrap(),
        DeliveryState::NeedsAttention { reason } if reason.contains("changed after it was recorded")
    ));
    // The phone keeps its file as it is: nothing on the device is deleted or rewritten.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_mid_upload_is_resumed_from_its_offset() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (_, recording) = phone.story_with_recording(40 * 1024 * 1024, 3);
    // Two 8 MiB chunks get through (a platform transport's first two; the chunks after
    // a cut start at 8 MiB too), then the network fails.
    phone.counter.in_chunks();
    phone.counter.fail_patches_after.store(2, Ordering::SeqCst);
    assert!(phone.engine.sync().await.is_err());
    let held = server.count("SELECT MAX(\"offset\") FROM uploads") as u64;
    assert!(held > 0 && held < recording.bytes);

    let server = server.restart().await;
    phone
        .counter
        .fail_patches_after
        .store(u64::MAX, Ordering::SeqCst);
    phone.counter.reset();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    // Only what the server did not hold was sent again, through the same upload.
    let resent = phone.counter.body_bytes.load(Ordering::SeqCst);
    assert_eq!(resent, recording.bytes - held);
    assert_eq!(
        phone.counter.count(Method::Post),
        0,
        "no new upload was created"
    );
    assert_eq!(
        sha256_hex(&server.audio_bytes(recording.id).await),
        recording.sha256
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM recordings"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sync_stops_and_the_next_one_resumes_without_resending() {
    let server = Server::start().await;
    let proxy = Proxy::throttled(server.addr, 8 * 1024 * 1024).await;
    let phone = Phone::enrolled(&server, &proxy.url()).await;
    let (story, recording) = phone.story_with_recording(24 * 1024 * 1024, 5);
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s = seen.clone();
    let _sub = phone
        .engine
        .subscribe_progress(move |p: tellus_core::sync::SyncProgress| {
            s.store(p.bytes_sent, Ordering::SeqCst);
        });
    let engine = phone.engine.clone();
    let running = tokio::spawn(async move { engine.sync().await });
    assert!(
        wait_until(Duration::from_secs(30), || seen.load(Ordering::SeqCst)
            > 2 << 20)
        .await
    );
    assert!(phone.engine.cancel());
    let result = running.await.unwrap();
    assert_eq!(result, Err(SyncError::Cancelled));
    assert!(!phone.engine.is_running());
    let held = server.count("SELECT MAX(\"offset\") FROM uploads") as u64;
    assert!(held < recording.bytes);
    // The story says it was cancelled, with what the server holds (not "0 %").
    let state = phone.engine.delivery_state(story).unwrap();
    let expected = (held * 100 / recording.bytes) as u8;
    assert!(expected > 0, "{held}");
    assert_eq!(state, DeliveryState::Cancelled { percent: expected });

    let before = proxy.sent();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1);
    let sent = proxy.sent() - before;
    // The rest of the file, plus headers: never the part the server held.
    assert!(
        sent < recording.bytes - held + 64 * 1024,
        "{sent} bytes for {} left",
        recording.bytes - held
    );
    assert_eq!(
        sha256_hex(&server.audio_bytes(recording.id).await),
        recording.sha256
    );
    assert!(phone.delivered(story));
}

/// Something between the phone and the server (a proxy with a smaller body limit, a
/// failing gateway) that answers the next `times` story documents with `status` and
/// `message`; they never reach the server.
struct RefusingDocuments {
    inner: Arc<dyn tellus_core::sync::Transport>,
    status: u16,
    message: &'static str,
    times: std::sync::atomic::AtomicU32,
}

impl RefusingDocuments {
    fn new(status: u16, message: &'static str, times: u32) -> Arc<Self> {
        Arc::new(RefusingDocuments {
            inner: support::http_transport(),
            status,
            message,
            times: times.into(),
        })
    }
}

impl tellus_core::sync::Transport for RefusingDocuments {
    fn send(
        &self,
        request: tellus_core::sync::PreparedRequest,
    ) -> tellus_core::sync::transport::TransportFuture<'_> {
        let refuse = request.method == Method::Put
            && request.url.contains("/stories/")
            && self
                .times
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            let body = serde_json::json!({ "code": "refused", "message": self.message });
            let status = self.status;
            return Box::pin(async move {
                Ok(tellus_core::sync::TransportResponse {
                    status,
                    headers: Vec::new(),
                    body: body.to_string().into_bytes(),
                })
            });
        }
        self.inner.send(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_refused_as_too_large_is_parked_at_once_with_the_reason() {
    let server = Server::start().await;
    let proxy = RefusingDocuments::new(413, "the proxy takes bodies of up to 1 kB", u32::MAX);
    let phone = Phone::enrolled_through(&server, &server.base, proxy).await;
    let story = phone.consented_story();
    phone.store.mark_ready(story).unwrap();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.parked.len(), 1, "{report:?}");
    assert_eq!(
        phone.counter.count(Method::Put),
        1,
        "sent once, not retried"
    );
    let DeliveryState::NeedsAttention { reason } = phone.engine.delivery_state(story).unwrap()
    else {
        panic!("not parked")
    };
    assert!(reason.contains("1 kB"), "{reason}");
    // Parked: the next sync leaves it alone until the reporter asks.
    phone.engine.sync().await.unwrap();
    assert_eq!(phone.counter.count(Method::Put), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_shows_when_it_is_tried_again_and_offline_says_so() {
    let server = Server::start().await;
    let gateway = RefusingDocuments::new(500, "the gateway failed", 1);
    let phone = Phone::enrolled_through(&server, &server.base, gateway).await;
    let (story, _) = phone.story_with_recording(100_000, 3);
    phone.engine.set_network(Network::None);
    assert_eq!(
        phone.engine.delivery_state(story).unwrap(),
        DeliveryState::OnlyOnPhone
    );
    phone.engine.set_network(Network::Unmetered);
    // The document fails once (a 500): the story waits for its retry, and the report
    // says the next sync is due then.
    let report = phone.engine.sync().await.unwrap();
    let DeliveryState::WaitingToRetry {
        retry_at_ms,
        reason,
        percent,
    } = phone.engine.delivery_state(story).unwrap()
    else {
        panic!("not waiting to retry")
    };
    assert!(retry_at_ms > tellus_core::model::Timestamp::now().as_millis());
    assert!(reason.contains("500"), "{reason}");
    assert_eq!(percent, 0);
    assert_eq!(
        report.next_attempt.reason,
        NextAttemptReason::RetryAfterFailure
    );
    assert_eq!(report.next_attempt.at_ms, Some(retry_at_ms));
    assert_eq!(report.next_attempt.network, NetworkNeed::Connected);
    assert_eq!(phone.engine.next_attempt().unwrap(), report.next_attempt);
    phone.engine.set_network(Network::None);
    assert_eq!(
        phone.engine.next_attempt().unwrap().reason,
        NextAttemptReason::WaitingForConnection
    );
    assert_eq!(
        phone.engine.delivery_state(story).unwrap(),
        DeliveryState::WaitingForConnection { percent: 0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_syncs_coalesce_into_one() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    for i in 0..3 {
        phone.story_with_recording(2_000_000, i);
    }
    phone.counter.reset();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let engine = phone.engine.clone();
        tasks.push(tokio::spawn(async move { engine.sync().await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    // One run: the configuration was fetched once and every caller got its report.
    assert_eq!(
        phone.counter.count(Method::Get) - 3,
        1,
        "one project refresh, three receipts"
    );
    assert_eq!(
        phone.counter.count(Method::Post),
        6,
        "three consent events, three uploads"
    );
    assert!(results.iter().all(|r| r == &results[0]));
    assert_eq!(results[0].delivered.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_waits_for_an_unmetered_network_and_metadata_does_not() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(500_000, 1);
    phone.engine.set_network(Network::None);
    assert_eq!(phone.engine.sync().await, Err(SyncError::Offline));
    let next = phone.engine.next_attempt().unwrap();
    assert_eq!(
        (next.reason, next.at_ms),
        (NextAttemptReason::WaitingForConnection, None)
    );

    phone.engine.set_network(Network::Metered);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.documents_sent, 1);
    assert_eq!(report.consent_events_sent, 1);
    assert_eq!(report.audio_waiting_for_unmetered, 1);
    // Held audio needs Wi-Fi, not a time.
    assert_eq!(
        report.next_attempt.reason,
        NextAttemptReason::WaitingForUnmetered
    );
    assert_eq!(report.next_attempt.network, NetworkNeed::Unmetered);
    assert_eq!(report.next_attempt.at_ms, None);
    // A story that becomes ready after the sync can go at once.
    let (later, _) = phone.story_with_recording(1_000, 2);
    let next = phone.engine.next_attempt().unwrap();
    assert_eq!(next.reason, NextAttemptReason::MoreToSend, "{next:?}");
    // The list's page holds each story with the same state as the single call.
    let page = phone.engine.story_page(10, None).unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].story.id, later, "newest first");
    for row in &page {
        assert_eq!(
            row.delivery,
            phone.engine.delivery_state(row.story.id).unwrap()
        );
    }
    assert_eq!(
        page[1].delivery,
        DeliveryState::WaitingForUnmetered { percent: 0 }
    );
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.documents_sent, 1);
    assert_eq!(
        report.next_attempt.reason,
        NextAttemptReason::WaitingForUnmetered
    );
    assert!(report.delivered.is_empty());
    assert_eq!(phone.counter.count(Method::Patch), 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM stories"), 2);

    // A note added later changes the document: it goes again with a higher revision.
    phone
        .store
        .add_note(story, &NewNote::note("Follow up about repairs", None))
        .unwrap();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.documents_sent, 1);

    phone.engine.set_network(Network::Unmetered);
    // With removal after delivery switched on, the local file goes once verified.
    phone
        .store
        .set_sync_settings(&SyncSettings {
            remove_local_audio_after_delivery: true,
            ..SyncSettings::default()
        })
        .unwrap();
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(report.local_audio_removed, 2);
    assert!(!phone.audio_path(&recording).exists());
    assert_eq!(report.next_attempt.reason, NextAttemptReason::Idle);
    assert!(!report.next_attempt.is_scheduled());
    assert_eq!(
        phone.store.delivery_state(story).unwrap(),
        DeliveryState::Delivered {
            local_audio_removed: true
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_too_large_for_the_server_is_parked_with_its_reason() {
    let server = Server::start_with(|c| c.limits.recording_bytes = 1_000_000).await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, _) = phone.story_with_recording(1_500_000, 1);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.parked.len(), 1, "{report:?}");
    let state = phone.store.delivery_state(story).unwrap();
    let DeliveryState::NeedsAttention { reason } = state else {
        panic!("{state:?}")
    };
    assert!(reason.contains("large"), "{reason}");
    // Parked is not retried by the next sync.
    phone.counter.reset();
    phone.engine.sync().await.unwrap();
    assert_eq!(phone.counter.count(Method::Post), 0);
    assert_eq!(phone.store.parked_items().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_stops_and_is_asked_to_enrol_again() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    phone.story_with_recording(200_000, 1);
    let account = phone.store.sync_account().unwrap().unwrap();
    tellus_server::admin::revoke(&server.store(), &account.reporter_id).unwrap();
    assert_eq!(phone.engine.sync().await, Err(SyncError::EnrolAgain));
    assert!(phone.store.sync_account().unwrap().unwrap().revoked);
    let next = phone.engine.next_attempt().unwrap();
    assert_eq!(next.reason, NextAttemptReason::NeedsEnrolment);
    assert!(!next.is_scheduled());
    // Nothing is tried until the device enrols again.
    phone.counter.reset();
    assert_eq!(phone.engine.sync().await, Err(SyncError::EnrolAgain));
    assert!(phone.counter.requests.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_the_sync_without_parking_anything() {
    let server = Server::start().await;
    let proxy = Proxy::start(server.addr, Faults::default()).await;
    let phone = Phone::enrolled(&server, &proxy.url()).await;
    let (story, _) = phone.story_with_recording(300_000, 1);
    proxy.down.store(true, Ordering::SeqCst);
    // The core backs off longer with each failure in a row: 1-2 s after the first,
    // 128-256 s after the eighth (docs/sync.md).
    let mut waits = Vec::new();
    for _ in 0..8 {
        assert!(matches!(
            phone.engine.sync().await,
            Err(SyncError::Unreachable(_))
        ));
        let next = phone.engine.next_attempt().unwrap();
        assert_eq!(next.reason, NextAttemptReason::SyncFailed);
        let now = tellus_core::model::Timestamp::now().as_millis();
        waits.push(next.at_ms.unwrap() - now);
    }
    assert!(waits[0] <= 2_000, "{waits:?}");
    assert!(waits[7] >= 60_000, "{waits:?}");
    assert!(phone.store.parked_items().unwrap().is_empty());
    assert_eq!(
        phone.store.delivery_state(story).unwrap(),
        DeliveryState::OnlyOnPhone
    );
    proxy.down.store(false, Ordering::SeqCst);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(
        phone.engine.next_attempt().unwrap().reason,
        NextAttemptReason::Idle
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_refuses_a_bad_invite_and_changes_nothing() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = tellus_core::Store::open(dir.path()).unwrap();
    let transport = support::http_transport();
    let bad = tellus_core::sync::enrol(
        &store,
        transport.clone(),
        &server.base,
        "AAAA-BBBB-CCCC-DDDD",
        "x",
    )
    .await;
    assert!(matches!(bad, Err(SyncError::Refused(_))), "{bad:?}");
    assert!(store.sync_account().unwrap().is_none());
    assert!(store.project().is_err());
    let not_a_url = tellus_core::sync::enrol(&store, transport, "ftp://x", "code", "x").await;
    assert!(matches!(not_a_url, Err(SyncError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leads_invite_on_a_phone_is_refused_and_stays_usable() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = tellus_core::Store::open(dir.path()).unwrap();
    let code = server.invite(PROJECT, Role::Lead);
    let refused = tellus_core::sync::enrol(
        &store,
        support::http_transport(),
        &server.base,
        &code,
        "phone",
    )
    .await;
    match &refused {
        Err(SyncError::Refused(reason)) => assert!(reason.contains("for a lead"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Nothing kept on the phone, and the code was not spent on the server.
    assert!(store.sync_account().unwrap().is_none());
    assert_eq!(store.device_token().unwrap(), None);
    assert!(store.project().is_err());
    assert_eq!(
        server.count("SELECT COUNT(*) FROM invites WHERE used_at IS NULL"),
        1
    );
    let lead = reqwest::Client::new()
        .post(format!("{}/api/v1/enrol", server.base))
        .json(&serde_json::json!({ "invite_code": code, "device_label": "laptop", "role": "lead" }))
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_audio_is_erased_even_without_a_network() {
    let server = Server::start().await;
    let phone = Phone::enrolled(&server, &server.base).await;
    let (story, recording) = phone.story_with_recording(300_000, 1);
    let (kept_story, kept) = phone.story_with_recording(300_000, 2);
    let mut withdraw = ConsentDraft::withdraw(true);
    withdraw.captured_by = "reporter".into();
    phone.store.record_consent(story, &withdraw).unwrap();
    // Withdrawn without asking for erasure: the audio stays on the phone.
    let mut keep = ConsentDraft::withdraw(false);
    keep.captured_by = "reporter".into();
    phone.store.record_consent(kept_story, &keep).unwrap();
    phone.engine.set_network(Network::None);
    assert_eq!(phone.engine.sync().await, Err(SyncError::Offline));
    assert!(!phone.audio_path(&recording).exists());
    assert!(phone.audio_path(&kept).exists());
    assert_eq!(
        phone.counter.requests.lock().unwrap().len(),
        1,
        "only the enrolment"
    );
}
