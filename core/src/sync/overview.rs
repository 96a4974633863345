//! What the shells show and schedule, decided once here: a page of the story list with
//! each story's delivery state (one call, one read transaction, however many rows), and
//! when to sync next and why (`NextAttempt`), which the CLI's watch loop, Android's
//! WorkManager and iOS's BGTaskScheduler all follow instead of each deciding its own.

use rusqlite::Transaction;
use serde::{Deserialize, Serialize};

use super::SyncError;
use super::backoff;
use std::collections::HashMap;

use super::outbox::{
    DeliveryState, delivery_state_in, delivery_state_of, items_between, policy_in,
};
use super::policy::{DeliveryPolicy, Network};
use crate::Store;
use crate::error::Result;
use crate::model::{ConsentState, StoryId, StorySummary};

/// A row of the story list: the story and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryRow {
    pub story: StorySummary,
    pub delivery: DeliveryState,
}

/// Why the next sync is due when it is. Stable codes (snake case in JSON) that shells
/// switch on; the wording is theirs, in the reporter's language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAttemptReason {
    /// Nothing waits: sync again when a story changes (becomes ready, is withdrawn).
    #[default]
    Idle,
    /// Something can go now (the network changed during the sync, a story became ready
    /// while it ran, or the sync stopped early).
    MoreToSend,
    /// An item failed and waits for its backoff (`at_ms` is the earliest).
    RetryAfterFailure,
    /// Only audio waits, for an unmetered network (the reporter's setting).
    WaitingForUnmetered,
    /// Something waits and the phone has no connection.
    WaitingForConnection,
    /// The whole sync failed (server unreachable, secret store locked, certificate
    /// refused, …): again after a backoff that grows with each failure in a row.
    SyncFailed,
    /// The sync was cancelled (e.g. the system ended the background time); what was sent
    /// is kept and the next sync goes on from there.
    Cancelled,
    /// Only a new enrolment gets sync going again: schedule nothing.
    NeedsEnrolment,
}

/// The network the next sync needs (the shell's scheduling constraint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkNeed {
    /// Any connection.
    #[default]
    Connected,
    /// Wi-Fi or a wired link.
    Unmetered,
}

/// When to sync next, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAttempt {
    pub reason: NextAttemptReason,
    /// Not before this time (ms since the Unix epoch); None: as soon as `network` holds
    /// (or, for `Idle` and `NeedsEnrolment`, no timed attempt at all).
    pub at_ms: Option<i64>,
    pub network: NetworkNeed,
}

impl NextAttempt {
    fn new(reason: NextAttemptReason, at_ms: Option<i64>, network: NetworkNeed) -> Self {
        NextAttempt {
            reason,
            at_ms,
            network,
        }
    }

    /// Whether the shell should schedule a sync at all.
    pub fn is_scheduled(&self) -> bool {
        !matches!(
            self.reason,
            NextAttemptReason::Idle | NextAttemptReason::NeedsEnrolment
        )
    }

    /// After a sync that failed as a whole, the `failures_in_a_row`-th time (1-based).
    pub fn after_error(error: &SyncError, failures_in_a_row: u32, now_ms: i64) -> Self {
        use NextAttemptReason::*;
        let backoff = || {
            let wait = backoff::delay_after(failures_in_a_row.max(1));
            Some(now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)))
        };
        match error {
            e if e.needs_enrolment() => Self::new(NeedsEnrolment, None, NetworkNeed::Connected),
            SyncError::Offline => Self::new(WaitingForConnection, None, NetworkNeed::Connected),
            SyncError::Cancelled => Self::new(Cancelled, Some(now_ms), NetworkNeed::Connected),
            _ => Self::new(SyncFailed, backoff(), NetworkNeed::Connected),
        }
    }
}

/// What the pending work of the stories adds up to (see `next_attempt_of`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Something could go now.
    pub due_now: bool,
    /// The earliest retry of a failed item.
    pub earliest_retry_ms: Option<i64>,
    /// Audio held for an unmetered network.
    pub held_for_unmetered: bool,
    /// Something waits for a connection.
    pub offline: bool,
}

impl Pending {
    /// Adds one story that has work queued, by the state the reporter sees.
    fn add(&mut self, state: &DeliveryState) {
        match state {
            DeliveryState::WaitingToRetry { retry_at_ms, .. } => {
                self.earliest_retry_ms = Some(
                    self.earliest_retry_ms
                        .map_or(*retry_at_ms, |t| t.min(*retry_at_ms)),
                );
            }
            DeliveryState::WaitingForUnmetered { .. } => self.held_for_unmetered = true,
            DeliveryState::WaitingForConnection { .. } => self.offline = true,
            DeliveryState::OnlyOnPhone
            | DeliveryState::Uploading { .. }
            | DeliveryState::Cancelled { .. }
            | DeliveryState::Withdrawn { propagated: false } => self.due_now = true,
            // Parked work waits for the reporter (retry_parked), not for a sync.
            DeliveryState::NeedsAttention { .. }
            | DeliveryState::Delivered { .. }
            | DeliveryState::Withdrawn { propagated: true } => {}
        }
    }
}

/// The next attempt for this pending work with the phone on `network`: what can go now
/// first, then the earliest retry, then held audio (which needs Wi-Fi, not a time).
pub(crate) fn next_attempt_of(pending: &Pending, network: Network, now_ms: i64) -> NextAttempt {
    use NextAttemptReason::*;
    let any = pending.due_now
        || pending.earliest_retry_ms.is_some()
        || pending.held_for_unmetered
        || pending.offline;
    if !any {
        return NextAttempt::new(Idle, None, NetworkNeed::Connected);
    }
    if network == Network::None {
        return NextAttempt::new(WaitingForConnection, None, NetworkNeed::Connected);
    }
    if pending.due_now {
        return NextAttempt::new(MoreToSend, Some(now_ms), NetworkNeed::Connected);
    }
    if let Some(at) = pending.earliest_retry_ms {
        return NextAttempt::new(RetryAfterFailure, Some(at), NetworkNeed::Connected);
    }
    if pending.held_for_unmetered {
        return NextAttempt::new(WaitingForUnmetered, None, NetworkNeed::Unmetered);
    }
    NextAttempt::new(WaitingForConnection, None, NetworkNeed::Connected)
}

/// The stories with work queued (pending items), and ready ones not queued yet.
fn pending_in(
    tx: &Transaction<'_>,
    network: Network,
    policy: &DeliveryPolicy,
    now_ms: i64,
) -> Result<Pending> {
    let mut stmt = tx.prepare_cached(
        "SELECT s.id, NOT EXISTS (SELECT 1 FROM outbox d WHERE d.item_id = s.id)
         FROM stories s
         WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.story_id = s.id AND o.state = 'pending')
            OR (s.status = 'ready' AND NOT EXISTS (SELECT 1 FROM outbox d WHERE d.item_id = s.id))",
    )?;
    let stories = stmt
        .query_map([], |r| Ok((r.get::<_, StoryId>(0)?, r.get::<_, bool>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut pending = Pending::default();
    for (story, not_queued) in stories {
        if not_queued {
            // Ready, and the next sync puts it in the outbox.
            pending.add(&if network == Network::None {
                DeliveryState::WaitingForConnection { percent: 0 }
            } else {
                DeliveryState::OnlyOnPhone
            });
        } else {
            pending.add(&delivery_state_in(tx, story, network, policy, now_ms)?);
        }
    }
    Ok(pending)
}

impl Store {
    /// Up to `limit` stories, newest first (older than `before` when given), each with
    /// its delivery state on `network`: the story list in one call and one read.
    pub fn story_page_on(
        &self,
        limit: u32,
        before: Option<StoryId>,
        network: Network,
    ) -> Result<Vec<StoryRow>> {
        let now = crate::model::Timestamp::now().as_millis();
        self.read(|tx| {
            let policy = policy_in(tx)?;
            let stories = crate::store::tx::list_stories(tx, limit, before)?;
            // A page is every story from its oldest id to its newest (ids are UUIDv7,
            // the page a range of the key): three queries for the whole page.
            let (Some(last), Some(first)) = (stories.first(), stories.last()) else {
                return Ok(Vec::new());
            };
            let (first, last) = (first.id, last.id);
            let mut events: HashMap<StoryId, Vec<_>> = HashMap::new();
            for e in crate::store::tx::consent_events_between(tx, first, last)? {
                events.entry(e.story_id).or_default().push(e);
            }
            let mut recordings: HashMap<StoryId, Vec<_>> = HashMap::new();
            for r in crate::store::tx::recordings_between(tx, first, last)? {
                recordings.entry(r.story_id).or_default().push(r);
            }
            let mut items: HashMap<StoryId, Vec<_>> = HashMap::new();
            for i in items_between(tx, first, last)? {
                items.entry(i.story_id).or_default().push(i);
            }
            Ok(stories
                .into_iter()
                .map(|story| {
                    let id = story.id;
                    let consent = ConsentState::fold(events.get(&id).map_or(&[][..], |e| e));
                    let delivery = delivery_state_of(
                        &consent,
                        recordings.get(&id).map_or(&[][..], |r| r),
                        items.get(&id).map_or(&[][..], |i| i),
                        network,
                        &policy,
                        now,
                    );
                    StoryRow { story, delivery }
                })
                .collect())
        })
    }

    /// When to sync next with the phone on `network`, from what is queued now.
    pub fn next_attempt_on(&self, network: Network) -> Result<NextAttempt> {
        let now = crate::model::Timestamp::now().as_millis();
        self.read(|tx| {
            let pending = pending_in(tx, network, &policy_in(tx)?, now)?;
            Ok(next_attempt_of(&pending, network, now))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NextAttemptReason::*;

    const NOW: i64 = 1_000_000;

    fn with(states: &[DeliveryState]) -> Pending {
        let mut p = Pending::default();
        for s in states {
            p.add(s);
        }
        p
    }

    fn retry(at: i64) -> DeliveryState {
        DeliveryState::WaitingToRetry {
            percent: 0,
            retry_at_ms: at,
            reason: "503".into(),
        }
    }

    #[test]
    fn nothing_queued_is_idle_and_parked_work_waits_for_the_reporter() {
        let delivered = DeliveryState::Delivered {
            local_audio_removed: false,
        };
        let parked = DeliveryState::NeedsAttention { reason: "x".into() };
        for p in [with(&[]), with(&[delivered, parked])] {
            let next = next_attempt_of(&p, Network::Unmetered, NOW);
            assert_eq!(next.reason, Idle);
            assert_eq!(next.at_ms, None);
            assert!(!next.is_scheduled());
        }
    }

    #[test]
    fn what_can_go_now_comes_before_the_earliest_retry_and_held_audio_last() {
        let held = DeliveryState::WaitingForUnmetered { percent: 10 };
        let now = with(&[retry(NOW + 500), DeliveryState::Cancelled { percent: 3 }]);
        assert_eq!(
            next_attempt_of(&now, Network::Metered, NOW),
            NextAttempt::new(MoreToSend, Some(NOW), NetworkNeed::Connected)
        );
        let retries = with(&[retry(NOW + 900), held.clone(), retry(NOW + 500)]);
        assert_eq!(
            next_attempt_of(&retries, Network::Metered, NOW),
            NextAttempt::new(RetryAfterFailure, Some(NOW + 500), NetworkNeed::Connected)
        );
        assert_eq!(
            next_attempt_of(&with(&[held]), Network::Metered, NOW),
            NextAttempt::new(WaitingForUnmetered, None, NetworkNeed::Unmetered)
        );
        assert_eq!(
            next_attempt_of(&retries, Network::None, NOW).reason,
            WaitingForConnection
        );
    }

    #[test]
    fn a_failed_sync_backs_off_longer_each_time_and_enrolment_schedules_nothing() {
        let unreachable = SyncError::Unreachable("refused".into());
        let first = NextAttempt::after_error(&unreachable, 1, NOW);
        let fifth = NextAttempt::after_error(&unreachable, 5, NOW);
        assert_eq!(first.reason, SyncFailed);
        let wait = |n: &NextAttempt| n.at_ms.unwrap() - NOW;
        assert!((1_000..=2_000).contains(&wait(&first)), "{first:?}");
        assert!((16_000..=32_000).contains(&wait(&fifth)), "{fifth:?}");
        let enrol = NextAttempt::after_error(&SyncError::EnrolAgain, 3, NOW);
        assert_eq!((enrol.reason, enrol.at_ms), (NeedsEnrolment, None));
        assert!(!enrol.is_scheduled());
        assert_eq!(
            NextAttempt::after_error(&SyncError::Offline, 1, NOW).reason,
            WaitingForConnection
        );
        assert_eq!(
            NextAttempt::after_error(&SyncError::Cancelled, 1, NOW).at_ms,
            Some(NOW)
        );
    }
}
