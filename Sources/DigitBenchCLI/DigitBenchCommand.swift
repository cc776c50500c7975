import ArgumentParser
import DigitBench

@main
struct DigitBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digit-bench",
        abstract: "Evaluate autoregressive image generators and their tokenizers, natively.",
        discussion: """
            digit-bench loads the upstream checkpoints of DiGIT, Open-MAGVIT2 and LlamaGen as \
            published, runs the upstream architectures on the CPU, and computes FID, IS, rFID, \
            PSNR, SSIM, codebook usage and linear-probe accuracy exactly as the reference \
            implementations do.

            Real weights are never downloaded behind your back: commands that need them say which \
            file, where it comes from and where to put it. `--weights seeded` runs any \
            architecture on deterministic seeded weights for tests and dry runs.
            """,
        version: DigitBenchVersion.string,
        subcommands: [
            Version.self,
            Doctor.self,
            Inspect.self,
            Convert.self,
            Bench.self,
            Weights.self,
            ReportCommand.self,
            SuiteCommand.self,
            Prepare.self,
            Generate.self,
            Logits.self,
            Tokenize.self,
            Reconstruct.self,
            Detokenize.self,
            KMeansCommand.self,
            FeaturesDINO.self,
            Stats.self,
            FID.self,
            IS.self,
            KID.self,
            PR.self,
            Features.self,
            Merge.self,
            Slurm.self,
            LinearProbeCommand.self,
        ]
    )
}
