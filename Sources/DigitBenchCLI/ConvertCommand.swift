import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a checkpoint's tensors to safetensors (for fast memory-mapped loading).",
            discussion: """
                Keys are the flattened state-dict keys (nested dict keys joined by '.'). Tensors keep \
                their dtype; non-contiguous tensors are written contiguous. Python objects are dropped; \
                the source file name and format go into the safetensors metadata.
                """)

        @Argument(help: "The checkpoint (.pth/.ckpt/.pt, safetensors, .npz, .npy).")
        var file: String

        @Argument(help: "Output .safetensors file (written atomically).")
        var output: String

        @Option(help: "Convert only the sub-tree at this key path (e.g. model, state_dict, ema).")
        var select: String?

        @Option(help: "Remove this prefix from keys that start with it (e.g. 'module.').")
        var stripPrefix: String?

        func run() throws {
            let url = URL(fileURLWithPath: file)
            var (sd, ckpt) = try Checkpoint.load(url, select: select)
            if let p = stripPrefix { sd = try sd.strippingPrefix(p) }
            guard sd.count > 0 else {
                throw ValidationError("no tensors\(select.map { " under '\($0)'" } ?? "") in \(file)")
            }
            var meta: [(String, String)] = [("format", "pt"), ("source", url.lastPathComponent), ("source_format", ckpt.format.rawValue)]
            if let select { meta.append(("select", select)) }
            try SafeTensors.write(sd.items.map { ($0.key, $0.tensor) }, metadata: meta, to: URL(fileURLWithPath: output))
            print("wrote \(output): \(sd.count) tensors, \(sd.parameterCount) parameters")
        }
    }
}
