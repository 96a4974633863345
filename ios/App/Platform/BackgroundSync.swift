// Sync when the system allows (DESIGN.md §6), when the core says the next attempt is due
// (`NextAttemptView`: the same decision the CLI's watch loop and Android's WorkManager
// follow): a BGProcessingTask that needs a network, for long audio uploads, and a
// BGAppRefreshTask for the short ones. The core decides what goes and when; this only
// asks the system for the time. Identifiers are listed in Info.plist
// (BGTaskSchedulerPermittedIdentifiers) and registered before launch finishes.
import BackgroundTasks
import Foundation
import TellusKit

enum BackgroundSync {
    static let processingTask = "org.tellus.reporter.sync"
    static let refreshTask = "org.tellus.reporter.refresh"

    /// From `application(_:didFinishLaunchingWithOptions:)`: registration after launch
    /// is refused by the system.
    static func register(core: @escaping @Sendable () async -> TellusApp?) {
        for identifier in [processingTask, refreshTask] {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
                run(task, core: core)
            }
        }
    }

    /// Asks for time to sync not before the core's next attempt; with nothing scheduled
    /// (all delivered, or enrolment needed), cancels what was asked. With no decision yet
    /// (at launch), asks for a window soon. Submitting again replaces the earlier request.
    /// iOS cannot ask for Wi-Fi: audio held for it waits in the core whatever runs.
    static func schedule(next: NextAttemptView? = nil) {
        if let next, !next.scheduled {
            BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: processingTask)
            BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: refreshTask)
            return
        }
        let notBefore: Date? = next?.atMs.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        let processing = BGProcessingTaskRequest(identifier: processingTask)
        processing.requiresNetworkConnectivity = true
        processing.requiresExternalPower = false
        processing.earliestBeginDate = notBefore
        let refresh = BGAppRefreshTaskRequest(identifier: refreshTask)
        refresh.earliestBeginDate = notBefore ?? Date(timeIntervalSinceNow: 15 * 60)
        for request: BGTaskRequest in [processing, refresh] {
            do {
                try BGTaskScheduler.shared.submit(request)
            } catch {
                // Refused in the simulator and when Background App Refresh is off: the app
                // still syncs in the foreground and from the network monitor.
                NSLog("Tellus: background sync not scheduled: \(error.localizedDescription)")
            }
        }
    }

    private static func run(_ task: BGTask, core opened: @escaping @Sendable () async -> TellusApp?) {
        let work = Task {
            guard let core: TellusApp = await opened() else {
                task.setTaskCompleted(success: false)
                return
            }
            do {
                // When the system ends our time (the task is cancelled below), the sync
                // stops at its next safe point and fails with Cancelled. What was sent is
                // kept, and the next sync resumes from the server's offset.
                let report: SyncReportView = try await withTaskCancellationHandler {
                    try await core.syncNow()
                } onCancel: {
                    _ = core.cancelSync()
                }
                schedule(next: report.nextAttempt)
                task.setTaskCompleted(success: report.parked.isEmpty)
            } catch {
                // The core decided the backoff (or that only enrolment helps).
                schedule(next: try? await offMain { try core.nextAttempt() })
                task.setTaskCompleted(success: false)
            }
        }
        task.expirationHandler = { work.cancel() }
    }
}
