// The app's state over the core: the account, the story list with each story's delivery
// state, sync progress. Everything is read from the core; nothing here decides what is
// delivered or kept.
import Foundation
import SwiftUI
import TellusKit

@MainActor
final class AppModel: ObservableObject {
    struct Row: Identifiable {
        let item: StoryListItem
        let delivery: DeliveryStateView?
        var id: String { item.id }
    }

    let core: TellusApp
    @Published private(set) var account: AccountView?
    @Published private(set) var rows: [Row] = []
    @Published private(set) var progress: SyncProgressView?
    @Published private(set) var syncing = false
    @Published var lastError: String?
    @Published private(set) var notices: [String] = []

    // Kept for the model's life; freeing a handle ends its subscription.
    private var storySubscription: SubscriptionHandle?
    private var syncSubscription: SubscriptionHandle?

    init(core: TellusApp) {
        self.core = core
        if let moved = core.damagedDatabaseMovedTo() {
            notices.append("The database could not be read; it was kept at \(moved) and a new one was made.")
        }
        let recovered: [String] = core.recoveredRecordings()
        if !recovered.isEmpty {
            notices.append("\(recovered.count) recording(s) interrupted by a crash were recovered.")
        }
        storySubscription = core.observeStories(observer: StoryChanges { [weak self] _ in
            Task { @MainActor in self?.reload() }
        })
        syncSubscription = core.observeSync(observer: SyncChanges { [weak self] progress in
            Task { @MainActor in
                self?.progress = progress
                self?.reload()
            }
        })
        reload()
    }

    var isEnrolled: Bool { account.map { !$0.needsEnrolment } ?? false }

    func reload() {
        do {
            account = try core.account()
            let items: [StoryListItem] = try core.listStories(limit: 200, before: nil)
            rows = items.map { (item: StoryListItem) in
                Row(item: item, delivery: try? core.deliveryState(story: item.id))
            }
        } catch {
            lastError = describe(error)
        }
    }

    func enrol(server: String, invite: String, deviceLabel: String) async -> Bool {
        do {
            let project: ProjectView = try await core.enrol(serverUrl: server, inviteCode: invite, deviceLabel: deviceLabel)
            notices.append("Enrolled in \(project.name).")
            reload()
            syncSoon()
            return true
        } catch {
            lastError = describe(error)
            return false
        }
    }

    /// Sync now in the foreground (the core joins a sync already running) and ask the
    /// system for background time for whatever is left.
    func syncSoon() {
        BackgroundSync.schedule()
        Task {
            syncing = true
            defer { syncing = false }
            do {
                let report: SyncReportView = try await core.syncNow()
                if !report.parked.isEmpty { lastError = report.parked.joined(separator: "\n") }
            } catch let error as TellusError {
                // Offline is normal: the network monitor and background sync try again.
                if !error.isTransient { lastError = error.message }
            } catch {
                lastError = describe(error)
            }
            reload()
        }
    }

    func retryParked() {
        do {
            _ = try core.retryParked()
            syncSoon()
        } catch {
            lastError = describe(error)
        }
    }
}
