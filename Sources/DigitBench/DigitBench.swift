// Umbrella module: `import DigitBench` brings in every public digit-bench module.
@_exported import DigitCheckpoint
@_exported import DigitImage
@_exported import DigitMetrics
@_exported import DigitModels
@_exported import DigitNN
@_exported import DigitReports
@_exported import DigitSuites
@_exported import DigitTensor

/// The digit-bench version.
public enum DigitBenchVersion {
    public static let string = "0.1.0"
}
