/// A value the caller gave that cannot be used: a setting (flip pairs, keypoint weights, a crop,
/// a batch size, a schedule change), a PCK normaliser, a predictions file that does not match
/// its labels. The message says what is wrong in the terms of the library, not of a command line.
public enum InputError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}
