// TellusKit: the small Swift layer over the generated bindings (TellusCore). It re-exports
// them, opens the core on the app's protected data folder, and adapts the core's observer
// protocols to closures. No app logic: that is the core's, behind the bindings.
@_exported import TellusCore
import Foundation

/// Named apart from the module (TellusKit) so that module-qualified names stay unambiguous.
public enum Tellus {
    /// The data folder: Application Support/Tellus, excluded from backups (stories are
    /// sensitive and leave the phone only to the project's server), protected until the
    /// phone is first unlocked after a restart. Not `.complete`: recording and upload go
    /// on while the screen is locked, and a locked `.complete` file cannot be written.
    public static func dataDirectory() throws -> URL {
        let base = try FileManager.default.url(
            for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        var dir = base.appendingPathComponent("Tellus", isDirectory: true)
        try FileManager.default.createDirectory(
            at: dir, withIntermediateDirectories: true,
            attributes: [.protectionKey: FileProtectionType.completeUntilFirstUserAuthentication])
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try dir.setResourceValues(values)
        return dir
    }

    /// Opens the core with every request going through `transport` (the background
    /// URLSession transport of the app) and the device token in the Keychain
    /// (`KeychainSecretStore`), never in the app's SQLite; a token an earlier version kept
    /// there moves to the Keychain now. A damaged database is moved aside by the core and
    /// reported by `damagedDatabaseMovedTo()`.
    public static func open(transport: PlatformTransport) throws -> TellusApp {
        let dir: URL = try dataDirectory()
        let app: TellusApp = try TellusApp.openWithPlatform(
            dataDir: dir.path, secrets: KeychainSecretStore(), transport: transport)
        return app
    }

    /// The version of the Rust core linked into this build, for logs and the settings page.
    public static var coreVersionText: String { coreVersion() }
}

/// A `StoryObserver` calling a closure, on the core's observer thread.
public final class StoryChanges: StoryObserver, @unchecked Sendable {
    private let onChange: @Sendable (StoryView) -> Void
    public init(_ onChange: @escaping @Sendable (StoryView) -> Void) { self.onChange = onChange }
    public func storyChanged(story: StoryView) { onChange(story) }
}

/// A `LevelObserver` calling a closure, on the core's observer thread (~every 50 ms,
/// coalesced: a slow closure sees fewer, newer levels and never slows the recording).
public final class LevelChanges: LevelObserver, @unchecked Sendable {
    private let onLevel: @Sendable (LevelView) -> Void
    public init(_ onLevel: @escaping @Sendable (LevelView) -> Void) { self.onLevel = onLevel }
    public func levelChanged(level: LevelView) { onLevel(level) }
}

/// A `SyncObserver` calling a closure with every progress snapshot.
public final class SyncChanges: SyncObserver, @unchecked Sendable {
    private let onProgress: @Sendable (SyncProgressView) -> Void
    public init(_ onProgress: @escaping @Sendable (SyncProgressView) -> Void) { self.onProgress = onProgress }
    public func syncProgress(progress: SyncProgressView) { onProgress(progress) }
}

/// Runs a call into the core off the main actor (a detached task) and returns its result:
/// every screen reaches the core through this (or an async binding), so the main thread
/// never waits for SQLite, the disk or a lock in the core.
public func offMain<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) { try body() }.value
}
