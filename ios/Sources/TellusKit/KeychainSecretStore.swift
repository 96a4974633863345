// The FFI platform secret store (bindings/ffi/src/secrets.rs) over the iOS Keychain: the
// device token is a generic-password item (service "org.tellus", account = the secret's
// name), never in the app's SQLite. Accessible after the first unlock, this device only:
// background sync after a reboot-then-unlock can read it with the screen locked, and it
// is never in a backup or moved to another phone (a restored phone enrols again).
//
// The core tells "cannot be used now" from "gone": errSecItemNotFound is nil (gone: enrol
// again); errSecInteractionNotAllowed (before the first unlock) and every other failure
// throw SecretStoreError.Unavailable (sync retries later, nothing lost, never "enrol
// again").
import Foundation
import Security

public final class KeychainSecretStore: PlatformSecretStore, @unchecked Sendable {
    /// The Keychain service of the app's items; another value only for tests.
    private let service: String

    public init(service: String = "org.tellus") {
        self.service = service
    }

    /// The attributes that name one item.
    private func query(_ name: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: name,
        ]
    }

    public func get(name: String) throws -> String? {
        var request = query(name)
        request[kSecReturnData as String] = true
        request[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(request as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data, let value = String(data: data, encoding: .utf8) else {
                // An item we cannot read as ours can never be used: enrol again, which
                // overwrites it. Not deleted here: nothing that cannot be undone on a read.
                return nil
            }
            return value
        case errSecItemNotFound:
            return nil
        default:
            throw unavailable(status, "read")
        }
    }

    public func set(name: String, value: String) throws {
        let data = Data(value.utf8)
        let update: [String: Any] = [
            kSecValueData as String: data,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
        ]
        let status = SecItemUpdate(query(name) as CFDictionary, update as CFDictionary)
        switch status {
        case errSecSuccess:
            return
        case errSecItemNotFound:
            var add = query(name)
            add.merge(update) { _, new in new }
            let added = SecItemAdd(add as CFDictionary, nil)
            guard added == errSecSuccess else { throw unavailable(added, "store") }
        default:
            throw unavailable(status, "store")
        }
    }

    public func delete(name: String) throws {
        let status = SecItemDelete(query(name) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw unavailable(status, "delete")
        }
    }

    private func unavailable(_ status: OSStatus, _ what: String) -> SecretStoreError {
        let reason = status == errSecInteractionNotAllowed
            ? "the Keychain is locked until the phone is unlocked once after a restart"
            : "the Keychain could not \(what) the device token (OSStatus \(status))"
        return SecretStoreError.Unavailable(reason: reason)
    }
}
