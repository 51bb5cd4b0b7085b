import CV4L2
import Glibc

/// A control value to set on a camera, as given on the command line: `exposure_absolute=200`.
public struct ControlSetting: Sendable, Hashable, CustomStringConvertible {
    /// The control's name as `qrpos devices` lists it (`brightness`, `exposure_time_absolute`), one
    /// of the common aliases (`exposure_absolute`, `focus_auto`, …), or a numeric id (`0x00980900`).
    public let name: String
    /// The value; booleans are 0 and 1, menus the item index, buttons ignore it.
    public let value: Int32

    /// A setting with both parts given.
    public init(name: String, value: Int32) {
        precondition(!name.isEmpty, "a control setting names its control")
        self.name = name
        self.value = value
    }

    /// Parses `name=value`, where value is a decimal or `0x` hexadecimal integer (negative
    /// allowed) or one of true, false, on, off. Nil for anything else.
    public init?(_ text: String) {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let name = text[..<equals].trimmingSpaces()
        let valueText = text[text.index(after: equals)...].trimmingSpaces().lowercased()
        guard !name.isEmpty else { return nil }
        let value: Int32?
        switch valueText {
        case "true", "on": value = 1
        case "false", "off": value = 0
        default:
            let negative = valueText.hasPrefix("-")
            let digits = negative ? String(valueText.dropFirst()) : valueText
            let magnitude = digits.hasPrefix("0x") ? Int64(digits.dropFirst(2), radix: 16) : Int64(digits, radix: 10)
            value = magnitude.flatMap { Int32(exactly: negative ? -$0 : $0) }
        }
        guard let value else { return nil }
        self.init(name: String(name), value: value)
    }

    public var description: String { "\(name)=\(value)" }
}

/// One control a device offers, as VIDIOC_QUERYCTRL describes it, with its current value.
/// Codable so `qrpos devices --json` can print it.
public struct ControlInfo: Sendable, Hashable, Codable {
    /// The V4L2 control id (`V4L2_CID_BRIGHTNESS` is 0x00980900).
    public let id: UInt32
    /// The driver's name for it ("Exposure Time, Absolute").
    public let name: String
    /// The name `--control` takes: the driver's name in lower case with every run of other
    /// characters turned into one underscore ("exposure_time_absolute"), as v4l2-ctl spells it.
    public let key: String
    /// "int", "bool", "menu", "intmenu", "bitmask", "button", "int64", "string", or "other".
    public let type: String
    public let minimum: Int
    public let maximum: Int
    public let step: Int
    public let defaultValue: Int
    /// The value read back with VIDIOC_G_CTRL; nil for buttons, write-only controls, and
    /// controls the driver would not read.
    public let value: Int?
    /// True when the control cannot be set.
    public let isReadOnly: Bool
    /// True when the control exists but is ignored in the current mode (exposure time while
    /// automatic exposure is on, say).
    public let isInactive: Bool

    public init(
        id: UInt32, name: String, key: String, type: String, minimum: Int, maximum: Int, step: Int,
        defaultValue: Int, value: Int?, isReadOnly: Bool, isInactive: Bool
    ) {
        self.id = id
        self.name = name
        self.key = key
        self.type = type
        self.minimum = minimum
        self.maximum = maximum
        self.step = step
        self.defaultValue = defaultValue
        self.value = value
        self.isReadOnly = isReadOnly
        self.isInactive = isInactive
    }

    /// The `--control` name for a driver's control name, as v4l2-ctl derives it: letters and
    /// digits lowered, every run of anything else between them one underscore.
    /// "Exposure Time, Absolute" → "exposure_time_absolute", "White Balance (auto)" →
    /// "white_balance_auto".
    public static func key(forName name: String) -> String {
        var key = ""
        var pendingUnderscore = false
        for scalar in name.unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                if pendingUnderscore { key.append("_") }
                pendingUnderscore = false
                key.unicodeScalars.append(contentsOf: String(scalar).lowercased().unicodeScalars)
            } else if !key.isEmpty {
                pendingUnderscore = true
            }
        }
        return key
    }

    /// Names people use for the controls that matter when scanning, mapped to their ids, because
    /// kernels have renamed them ("Exposure (Absolute)" became "Exposure Time, Absolute").
    public static let aliases: [String: UInt32] = [
        "brightness": UInt32(V4L2_CID_BRIGHTNESS),
        "contrast": UInt32(V4L2_CID_CONTRAST),
        "saturation": UInt32(V4L2_CID_SATURATION),
        "sharpness": UInt32(V4L2_CID_SHARPNESS),
        "gain": UInt32(V4L2_CID_GAIN),
        "autogain": UInt32(V4L2_CID_AUTOGAIN),
        "gain_automatic": UInt32(V4L2_CID_AUTOGAIN),
        "exposure": UInt32(V4L2_CID_EXPOSURE),
        "exposure_absolute": UInt32(V4L2_CID_EXPOSURE_ABSOLUTE),
        "exposure_time_absolute": UInt32(V4L2_CID_EXPOSURE_ABSOLUTE),
        "exposure_auto": UInt32(V4L2_CID_EXPOSURE_AUTO),
        "auto_exposure": UInt32(V4L2_CID_EXPOSURE_AUTO),
        "focus_absolute": UInt32(V4L2_CID_FOCUS_ABSOLUTE),
        "focus_auto": UInt32(V4L2_CID_FOCUS_AUTO),
        "focus_automatic_continuous": UInt32(V4L2_CID_FOCUS_AUTO),
        "backlight_compensation": UInt32(V4L2_CID_BACKLIGHT_COMPENSATION),
        "power_line_frequency": UInt32(V4L2_CID_POWER_LINE_FREQUENCY),
        "white_balance_automatic": UInt32(V4L2_CID_AUTO_WHITE_BALANCE),
        "white_balance_temperature_auto": UInt32(V4L2_CID_AUTO_WHITE_BALANCE),
        "zoom_absolute": UInt32(V4L2_CID_ZOOM_ABSOLUTE),
    ]

    /// The control `setting` names among `controls`: by key first, then by alias, then by
    /// numeric id. Nil when there is none.
    public static func find(_ name: String, in controls: [ControlInfo]) -> ControlInfo? {
        let wanted = name.lowercased()
        if let byKey = controls.first(where: { $0.key == wanted }) { return byKey }
        if let id = aliases[wanted], let byAlias = controls.first(where: { $0.id == id }) { return byAlias }
        let number = wanted.hasPrefix("0x") ? UInt32(wanted.dropFirst(2), radix: 16) : UInt32(wanted)
        if let number, let byID = controls.first(where: { $0.id == number }) { return byID }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        let start = firstIndex(where: { $0 != " " }) ?? endIndex
        let end = lastIndex(where: { $0 != " " }).map(index(after:)) ?? start
        return self[start..<Swift.max(start, end)]
    }
}

extension VideoDeviceHandle {
    /// The most controls one device may list; real cameras have a few dozen.
    static let controlCountMax = 1024

    /// Control types VIDIOC_S_CTRL and VIDIOC_G_CTRL handle; the others need the extended-control
    /// ioctls, which no scanning control needs.
    static let simpleControlTypes: Set<UInt32> = [
        V4L2_CTRL_TYPE_INTEGER.rawValue, V4L2_CTRL_TYPE_BOOLEAN.rawValue, V4L2_CTRL_TYPE_MENU.rawValue,
        V4L2_CTRL_TYPE_INTEGER_MENU.rawValue, V4L2_CTRL_TYPE_BITMASK.rawValue, V4L2_CTRL_TYPE_BUTTON.rawValue,
    ]

    /// Every enabled control, walked with VIDIOC_QUERYCTRL and V4L2_CTRL_FLAG_NEXT_CTRL (which
    /// every driver on the control framework supports; one that does not answers EINVAL at once
    /// and is listed as having no controls). Current values come from VIDIOC_G_CTRL.
    func controls() throws(CameraError) -> [ControlInfo] {
        var result: [ControlInfo] = []
        var nextID: UInt32 = 0
        for _ in 0..<Self.controlCountMax {
            var query = v4l2_queryctrl()
            query.id = nextID | UInt32(V4L2_CTRL_FLAG_NEXT_CTRL)
            guard case .completed = try ioctl(.queryControl, &query, tolerating: [EINVAL, ENOTTY]) else { break }
            // The driver fills in the id it found, so the next query starts after it.
            nextID = query.id
            let disabled = query.flags & UInt32(V4L2_CTRL_FLAG_DISABLED) != 0
            guard !disabled, query.type != V4L2_CTRL_TYPE_CTRL_CLASS.rawValue else { continue }
            result.append(try describe(query))
        }
        return result
    }

    /// A ControlInfo for one VIDIOC_QUERYCTRL answer, reading its current value when it has one.
    private func describe(_ query: v4l2_queryctrl) throws(CameraError) -> ControlInfo {
        let writeOnly = query.flags & UInt32(V4L2_CTRL_FLAG_WRITE_ONLY) != 0
        var value: Int?
        if !writeOnly, query.type != V4L2_CTRL_TYPE_BUTTON.rawValue, Self.simpleControlTypes.contains(query.type) {
            var control = v4l2_control(id: query.id, value: 0)
            // A control the driver will not read now (inactive, busy) is listed without a value;
            // only a vanished device fails the listing.
            if case .completed = try ioctl(.getControl, &control, tolerating: [EINVAL, EACCES, EBUSY, EIO, EPERM]) {
                value = Int(control.value)
            }
        }
        let name = string(fromCharacters: query.name)
        return ControlInfo(
            id: query.id, name: name, key: ControlInfo.key(forName: name), type: Self.typeName(query.type),
            minimum: Int(query.minimum), maximum: Int(query.maximum), step: Int(query.step),
            defaultValue: Int(query.default_value), value: value,
            isReadOnly: query.flags & UInt32(V4L2_CTRL_FLAG_READ_ONLY) != 0,
            isInactive: query.flags & UInt32(V4L2_CTRL_FLAG_INACTIVE) != 0)
    }

    static func typeName(_ type: UInt32) -> String {
        switch type {
        case V4L2_CTRL_TYPE_INTEGER.rawValue: "int"
        case V4L2_CTRL_TYPE_BOOLEAN.rawValue: "bool"
        case V4L2_CTRL_TYPE_MENU.rawValue: "menu"
        case V4L2_CTRL_TYPE_INTEGER_MENU.rawValue: "intmenu"
        case V4L2_CTRL_TYPE_BITMASK.rawValue: "bitmask"
        case V4L2_CTRL_TYPE_BUTTON.rawValue: "button"
        case V4L2_CTRL_TYPE_INTEGER64.rawValue: "int64"
        case V4L2_CTRL_TYPE_STRING.rawValue: "string"
        default: "other"
        }
    }

    /// The control with exactly this id, or nil when the driver does not know it.
    func control(id: UInt32) throws(CameraError) -> (query: v4l2_queryctrl, info: ControlInfo)? {
        var query = v4l2_queryctrl()
        query.id = id
        guard case .completed = try ioctl(.queryControl, &query, tolerating: [EINVAL, ENOTTY]) else { return nil }
        return (query, try describe(query))
    }

    /// Sets `setting` with VIDIOC_S_CTRL after checking it against VIDIOC_QUERYCTRL, and returns
    /// the control as read back (drivers round to their step). Throws `.controlNotFound` when the
    /// device has no such control, `.controlRejected` when the value is out of range, the
    /// control is read-only or of a type S_CTRL cannot set, or the driver refuses it;
    /// `.unplugged` when the device went away.
    func setControl(_ setting: ControlSetting, among available: [ControlInfo]) throws(CameraError) -> ControlInfo {
        guard let found = ControlInfo.find(setting.name, in: available), let (query, control) = try self.control(id: found.id)
        else {
            let names = available.filter { !$0.isReadOnly }.map(\.key).joined(separator: ", ")
            throw CameraError(
                code: .controlNotFound,
                message: "\(path) has no control \(setting.name) (it has: \(names.isEmpty ? "none" : names))",
                device: path, operation: IoctlRequest.queryControl.name)
        }
        func rejected(_ why: String) -> CameraError {
            CameraError(code: .controlRejected, message: "\(path) cannot set \(control.key) to \(setting.value): \(why)",
                        device: path, operation: IoctlRequest.setControl.name)
        }
        if control.isReadOnly { throw rejected("the control is read-only") }
        guard Self.simpleControlTypes.contains(query.type) else {
            throw rejected("\(control.type) controls need extended controls, which qrpos does not set")
        }
        let ranged = [V4L2_CTRL_TYPE_INTEGER.rawValue, V4L2_CTRL_TYPE_BOOLEAN.rawValue, V4L2_CTRL_TYPE_MENU.rawValue,
                      V4L2_CTRL_TYPE_INTEGER_MENU.rawValue].contains(query.type)
        if ranged, !(control.minimum...control.maximum).contains(Int(setting.value)) {
            throw rejected("its range is \(control.minimum) to \(control.maximum)")
        }
        var request = v4l2_control(id: control.id, value: setting.value)
        do throws(CameraError) {
            try ioctl(.setControl, &request)
        } catch where error.code != .unplugged {
            // EACCES and EBUSY from S_CTRL are about the control, not about file permissions.
            let hint = control.isInactive ? " (the control is inactive: switch its automatic mode off first)" : ""
            throw CameraError(code: .controlRejected,
                              message: "\(error.message) setting \(control.key) to \(setting.value)\(hint)",
                              device: path, operation: error.operation, errno: error.errno)
        }
        return try self.control(id: control.id)?.info ?? control
    }
}
