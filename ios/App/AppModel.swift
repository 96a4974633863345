// The app's state over the core: the account, the story list with each story's delivery
// state (one batched call, `storyPage`, read off the main actor), sync progress. Everything
// is read from the core; nothing here decides what is delivered, kept or when to sync.
import Foundation
import SwiftUI
import TellusKit

@MainActor
final class AppModel: ObservableObject {
    struct Row: Identifiable {
        let item: StoryListItem
        let delivery: DeliveryStateView
        var id: String { item.id }
    }

    let core: TellusApp
    @Published private(set) var account: AccountView?
    @Published private(set) var rows: [Row] = []
    @Published private(set) var loaded = false
    @Published private(set) var progress: SyncProgressView?
    @Published private(set) var syncing = false
    @Published var lastError: String?
    @Published private(set) var notices: [String] = []

    // Kept for the model's life; freeing a handle ends its subscription.
    private var storySubscription: SubscriptionHandle?
    private var syncSubscription: SubscriptionHandle?
    // One read at a time; changes that come meanwhile ask for one more (the observers
    // fire about four times a second while a sync runs).
    private var reading = false
    private var readAgain = false

    init(core: TellusApp) {
        self.core = core
        Task { await start() }
    }

    /// Subscribes and reads the first page, off the main actor.
    private func start() async {
        let core: TellusApp = self.core
        do {
            let (moved, recovered): (String?, [String]) = try await offMain {
                (core.damagedDatabaseMovedTo(), core.recoveredRecordings())
            }
            if let moved {
                notices.append(String(localized: "The database could not be read; it was kept at \(moved) and a new one was made."))
            }
            if !recovered.isEmpty {
                notices.append(String(localized: "\(Int(recovered.count)) recording(s) interrupted by a crash were recovered."))
            }
            let stories = StoryChanges { [weak self] _ in Task { @MainActor in self?.reload() } }
            let sync = SyncChanges { [weak self] progress in
                Task { @MainActor in
                    self?.progress = progress
                    self?.reload()
                }
            }
            let handles: (SubscriptionHandle, SubscriptionHandle) = try await offMain {
                (core.observeStories(observer: stories), core.observeSync(observer: sync))
            }
            storySubscription = handles.0
            syncSubscription = handles.1
        } catch {
            lastError = describe(error)
        }
        reload()
    }

    var isEnrolled: Bool { account.map { !$0.needsEnrolment } ?? false }

    /// Reads the account and the first page of stories with their delivery states in one
    /// call, off the main actor, then shows them.
    func reload() {
        if reading {
            readAgain = true
            return
        }
        reading = true
        let core: TellusApp = self.core
        Task {
            repeat {
                readAgain = false
                do {
                    let (account, page): (AccountView?, [StoryRowView]) = try await offMain {
                        (try core.account(), try core.storyPage(limit: 200, before: nil))
                    }
                    self.account = account
                    rows = page.map { (row: StoryRowView) in Row(item: row.story, delivery: row.delivery) }
                    loaded = true
                } catch {
                    lastError = describe(error)
                }
            } while readAgain
            reading = false
        }
    }

    func enrol(server: String, invite: String, deviceLabel: String) async -> Bool {
        do {
            let project: ProjectView = try await core.enrol(serverUrl: server, inviteCode: invite, deviceLabel: deviceLabel)
            notices.append(String(localized: "Enrolled in \(project.name)."))
            reload()
            syncSoon()
            return true
        } catch {
            lastError = describe(error)
            return false
        }
    }

    /// Sync now in the foreground (the core joins a sync already running), then ask the
    /// system for background time when the core says the next attempt is due.
    func syncSoon() {
        let core: TellusApp = self.core
        Task {
            syncing = true
            defer { syncing = false }
            do {
                let report: SyncReportView = try await core.syncNow()
                if !report.parked.isEmpty { lastError = report.parked.joined(separator: "\n") }
                BackgroundSync.schedule(next: report.nextAttempt)
            } catch let error as TellusError {
                // Offline is normal: the network monitor and background sync try again.
                if !error.isTransient { lastError = error.message }
                BackgroundSync.schedule(next: try? await offMain { try core.nextAttempt() })
            } catch {
                lastError = describe(error)
            }
            reload()
        }
    }

    func retryParked() {
        let core: TellusApp = self.core
        Task {
            do {
                _ = try await offMain { try core.retryParked() }
                syncSoon()
            } catch {
                lastError = describe(error)
            }
        }
    }
}
