// The core's logs (ids, counts, outcomes; never story content) to the unified log
// (os_log), under the subsystem org.tellus.reporter with the part of the core that logged
// as the category. Installed once at launch with `OSLogSink.install()`.
import Foundation
import os

public final class OSLogSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var loggers: [String: Logger] = [:]

    /// Sends the core's records at `level` and above to os_log.
    public static func install(level: LogLevel = .info) {
        setLogSink(sink: OSLogSink(), level: level)
    }

    public func log(record: LogRecord) {
        let logger = lock.withLock { () -> Logger in
            if let known = loggers[record.target] { return known }
            let made = Logger(subsystem: "org.tellus.reporter", category: record.target)
            loggers[record.target] = made
            return made
        }
        // The core's messages hold no personal data, so they are logged as public.
        switch record.level {
        case .error: logger.error("\(record.message, privacy: .public)")
        case .warn: logger.warning("\(record.message, privacy: .public)")
        case .info: logger.info("\(record.message, privacy: .public)")
        case .debug, .trace: logger.debug("\(record.message, privacy: .public)")
        }
    }
}
