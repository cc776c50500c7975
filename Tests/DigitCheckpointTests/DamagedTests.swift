import Foundation
import Testing
import _DigitTestSupport

@testable import DigitCheckpoint

/// Damaged and hostile fixtures are refused with an error naming the file and what was wrong;
/// nothing is executed (the hostile pickles would run `echo`, and the VM has no way to call
/// anything at all). A bounded mutation test checks that random damage never crashes or hangs.
@Suite struct DamagedTests {
    /// Opens the file and reads every tensor, as a model load would.
    static func loadEverything(_ url: URL, options: Checkpoint.Options = .init()) throws {
        let c = try Checkpoint.open(url, options: options)
        for (_, t) in Checkpoint.tensors(in: c.root) {
            _ = try t.raw()
            _ = try t.load()
        }
        _ = try c.inspectJSON()
    }

    static func refusal(_ name: String) -> CheckpointError? {
        do {
            try loadEverything(try CheckpointFixtures.url(name))
            return nil
        } catch let e as CheckpointError {
            return e
        } catch {
            Issue.record("\(name): unexpected error type \(error)")
            return nil
        }
    }

    @Test func everyDamagedFixtureIsListed() throws {
        guard case let .object(d)? = CheckpointFixtures.expected["damaged"] else { Issue.record("no damaged list"); return }
        #expect(Set(d.map(\.0)) == [
            "bad_truncated.zip.pth", "bad_corrupt_record.zip.pth", "bad_legacy_cut_midstorage.pth", "evil_os_system.pkl",
            "evil_builtins_eval.pkl", "evil_os_system.legacy.pth", "evil_os_system.zip.pth", "bad_npy_lying_shape.npy",
            "bad_npy_header_len.npy", "bad_npy_object_dtype.npy",
        ])
        for (name, _) in d {
            let e = try #require(Self.refusal(name), "\(name) was accepted")
            #expect(e.description.contains(name), "\(name): error does not name the file: \(e)")
        }
    }

    @Test func truncatedZip() throws {
        let e = try #require(Self.refusal("bad_truncated.zip.pth"))
        guard case let .malformed(_, _, reason) = e else { Issue.record("\(e)"); return }
        #expect(reason.contains("end-of-central-directory"))
    }

    @Test func corruptRecordFailsItsCRC() throws {
        // torch 1.13 loads this file silently; we refuse the record whose CRC-32 is wrong,
        // naming it and where its data starts.
        let e = try #require(Self.refusal("bad_corrupt_record.zip.pth"))
        guard case let .malformed(_, offset, reason) = e else { Issue.record("\(e)"); return }
        #expect(reason.contains("plain_state_dict.zip/data/0") && reason.contains("CRC-32") && reason.contains("aec97828"))
        #expect(offset != nil && offset! <= 1032)  // the inverted bytes 1032..1035 lie in this record
        // The other tensors in the file are intact and still load.
        let c = try Checkpoint.open(CheckpointFixtures.url("bad_corrupt_record.zip.pth"))
        #expect(throws: CheckpointError.self) { try c.stateDict().tensor("conv.weight") }
        #expect(try c.stateDict().tensor("conv.bias").count == 4)
    }

    @Test func legacyCutInsideStorage() throws {
        let e = try #require(Self.refusal("bad_legacy_cut_midstorage.pth"))
        guard case let .malformed(_, offset, reason) = e else { Issue.record("\(e)"); return }
        #expect(reason.contains("needs 256 bytes") && reason.contains("truncated") && offset != nil)
    }

    @Test(arguments: [
        ("evil_os_system.pkl", "os.system"), ("evil_builtins_eval.pkl", "builtins.eval"),
        ("evil_os_system.legacy.pth", "os.system"), ("evil_os_system.zip.pth", "os.system"),
    ])
    func hostilePicklesAreRefusedNamingTheGlobal(_ name: String, _ global: String) throws {
        let e = try #require(Self.refusal(name))
        guard case let .forbiddenGlobal(path, g, offset) = e else { Issue.record("\(name): \(e)"); return }
        #expect(path.hasSuffix(name) && g == global)
        #expect(offset == 2 || name.hasSuffix(".zip.pth"))  // the GLOBAL opcode follows PROTO
        #expect(e.description.contains(global) && e.description.contains("never executes"))
        // The plain pickles also through the pickle-only entry point.
        if name.hasSuffix(".pkl") {
            #expect(throws: CheckpointError.forbiddenGlobal(path: path, global: global, opcodeOffset: 2)) {
                _ = try PickleVM.load(contentsOf: CheckpointFixtures.url(name))
            }
        }
    }

    @Test(arguments: [
        ("bad_npy_lying_shape.npy", "needs 4000000 data bytes"), ("bad_npy_header_len.npy", "header length 60000"),
        ("bad_npy_object_dtype.npy", "object array"),
    ])
    func badNpy(_ name: String, _ words: String) throws {
        let e = try #require(Self.refusal(name))
        #expect(e.description.contains(words), "\(e)")
        #expect(throws: CheckpointError.self) { _ = try NPY.read(contentsOf: CheckpointFixtures.url(name)) }
    }

    @Test func strictModeRefusesUnknownClassesButLoadsStateDicts() throws {
        let strict = Checkpoint.Options(strict: true)
        for name in ["custom_class.zip.pth", "custom_class.legacy.pth"] {
            do {
                _ = try Checkpoint.open(CheckpointFixtures.url(name), options: strict)
                Issue.record("\(name) loaded in strict mode")
            } catch let CheckpointError.forbiddenGlobal(path, global, _) {
                #expect(path.hasSuffix(name) && global == "digit_fixture_private.config.ExperimentConfig")
            }
            // Lenient (default): opaque placeholders, tensors still under state_dict/.
            let (sd, c) = try Checkpoint.load(CheckpointFixtures.url(name), select: "state_dict")
            #expect(sd.count == 9)
            guard case let .object(cfg)? = c.root["cfg"] else { Issue.record("cfg is not opaque"); continue }
            #expect(cfg.className == "digit_fixture_private.config.ExperimentConfig" && cfg.state?["name"]?.stringValue == "digit-tiny")
        }
        for name in ["plain_state_dict.zip.pth", "plain_state_dict.legacy.pth", "dtypes.zip.pth", "views.legacy.pth"] {
            try Self.loadEverything(try CheckpointFixtures.url(name), options: strict)
        }
    }

    /// SplitMix64: deterministic.
    struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    @Test func randomDamageNeverCrashes() throws {
        // 3000 mutants (seed 3): 1-8 byte flips anywhere, flips in the first 128 bytes (headers),
        // 0xFF runs over length fields, and truncations. Each is opened and fully loaded; every
        // outcome must be a clean success or a CheckpointError.
        let names = CheckpointFixtures.files().map(\.0).filter { !$0.hasPrefix("fid_stats") } + ["evil_os_system.pkl"]
        let originals = try names.map { try [UInt8](Data(contentsOf: CheckpointFixtures.url($0))) }
        var rng = RNG(state: 3)
        var refused = 0, loaded = 0
        for i in 0..<3000 {
            let k = i % names.count
            var bytes = originals[k]
            switch rng.below(4) {
            case 0:
                for _ in 0..<(1 + rng.below(8)) { bytes[rng.below(bytes.count)] ^= UInt8(1 + rng.below(255)) }
            case 1:
                for _ in 0..<(1 + rng.below(3)) { bytes[rng.below(min(bytes.count, 128))] ^= UInt8(1 + rng.below(255)) }
            case 2:
                let at = rng.below(bytes.count)
                for j in at..<min(at + 1 + rng.below(8), bytes.count) { bytes[j] = 0xFF }
            default:
                bytes.removeLast(1 + rng.below(bytes.count))
            }
            let buffer = ByteBuffer(copying: bytes, path: "mutant-\(i)-of-\(names[k])")
            do {
                let c = try Checkpoint.open(buffer, url: URL(fileURLWithPath: buffer.path))
                for (_, t) in Checkpoint.tensors(in: c.root) {
                    _ = try t.raw()
                    _ = try t.load()
                }
                _ = try c.inspectJSON().text()
                loaded += 1
            } catch is CheckpointError {
                refused += 1
            }
        }
        #expect(refused + loaded == 3000)
        #expect(refused > 1000)  // most damage is detected (CRC, bounds, pickle structure)
    }
}
