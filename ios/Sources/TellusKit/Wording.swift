// What the reporter reads for the core's states and errors, in one place, so every screen
// says the same thing.
import Foundation

extension DeliveryStateView {
    /// The story list's line (DESIGN.md §1.5): the core's stable delivery-state code in the
    /// reporter's language (the app's String Catalog, Localizable.xcstrings).
    public var label: String {
        switch self {
        case .onlyOnThisPhone: return String(localized: "Only on this phone", bundle: .main)
        case .uploading(let percent): return String(localized: "Uploading \(Int(percent)) %", bundle: .main)
        case .waitingForConnection(let percent):
            return String(localized: "Waiting for a connection · \(Int(percent)) % sent", bundle: .main)
        case .waitingForUnmetered(let percent):
            return String(localized: "Audio waits for Wi-Fi · \(Int(percent)) % sent", bundle: .main)
        case .waitingToRetry(let percent, let retryAtMs, let reason):
            let at: String = Date(timeIntervalSince1970: Double(retryAtMs) / 1000).formatted(date: .omitted, time: .shortened)
            return String(localized: "Trying again at \(at) · \(Int(percent)) % sent: \(reason)", bundle: .main)
        case .cancelled(let percent): return String(localized: "Paused · \(Int(percent)) % on the server", bundle: .main)
        case .delivered(let localAudioRemoved):
            return localAudioRemoved
                ? String(localized: "Delivered · audio removed from this phone", bundle: .main)
                : String(localized: "Delivered", bundle: .main)
        case .needsAttention(let reason): return String(localized: "Needs attention: \(reason)", bundle: .main)
        case .withdrawn(let propagated):
            return propagated
                ? String(localized: "Withdrawn", bundle: .main)
                : String(localized: "Withdrawn · the server is told at the next sync", bundle: .main)
        }
    }
}

extension TellusError {
    /// The message to show; the core writes them without story text, names or consent.
    public var message: String {
        switch self {
        case .InvalidInput(let reason), .ConsentMissing(let reason), .NotEnrolled(let reason),
             .Audio(let reason), .Network(let reason), .ServerRefused(let reason),
             .Cancelled(let reason), .Storage(let reason), .SecretStoreUnavailable(let reason),
             .ServerNotTrusted(let reason):
            return reason
        case .NotFound(let what, let id):
            return String(localized: "No \(what) with id \(id) on this phone", bundle: .main)
        }
    }

    /// Whether trying again later can help (the app's scheduled sync will).
    public var isTransient: Bool {
        switch self {
        case .Network, .SecretStoreUnavailable: return true // the Keychain unlocks later
        default: return false
        }
    }
}

/// Any error, as one line for the reporter.
public func describe(_ error: Error) -> String {
    if let tellus = error as? TellusError { return tellus.message }
    return error.localizedDescription
}

/// An audio position as the reporter reads it ("4:05", "1:02:03"): the core's one format
/// (a pure function of the number: no I/O, no lock).
public func formatPosition(ms: UInt64) -> String {
    formatAudioPosition(ms: ms)
}
