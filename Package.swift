// swift-tools-version: 6.0
import PackageDescription

// Targets are grouped as in swift-numerics: system libraries, public modules, implementation
// details, test bundles. The graph is one-way (see ARCHITECTURE in README):
// COpenBLAS ← DigitTensor ← DigitCheckpoint ← DigitNN ← DigitModels ← DigitSuites ← DigitBench ← CLI
let package = Package(
    name: "digit-bench",
    products: [
        .executable(name: "digit-bench", targets: ["DigitBenchCLI"]),
        .library(name: "DigitBench", targets: ["DigitBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // MARK: - System libraries (module.modulemap + shim.h, found through pkg-config)
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // setjmp-based safe wrappers: libpng/libjpeg report fatal errors by longjmp/exit, which Swift cannot catch.
        .target(
            name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"],
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        // Kernels needing run-time ISA dispatch (AVX-512), e.g. the row-invariant linear.
        .target(name: "CKernels"),

        // MARK: - Public modules
        .target(name: "DigitTensor", dependencies: ["COpenBLAS", "CKernels"], exclude: ["README.md"]),
        .target(name: "DigitCheckpoint", dependencies: ["DigitTensor", "CZlib"], exclude: ["README.md"]),
        .target(name: "DigitImage", dependencies: ["DigitTensor", "DigitCheckpoint", "CPNG", "CJPEG", "CImageCodecs"], exclude: ["README.md"]),
        .target(name: "DigitNN", dependencies: ["DigitTensor", "DigitCheckpoint"], exclude: ["README.md"]),
        .target(name: "DigitModels", dependencies: ["DigitNN", "DigitImage"], exclude: ["README.md"]),
        .target(name: "DigitMetrics", dependencies: ["DigitTensor", "DigitCheckpoint", "COpenBLAS", "CFFTW", "CKernels"], exclude: ["README.md"]),
        .target(name: "DigitReports", exclude: ["README.md"]),
        .target(
            name: "DigitSuites",
            dependencies: [
                "DigitModels", "DigitMetrics", "DigitImage", "DigitReports",
                .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["README.md"]),
        .target(
            name: "DigitBench",
            dependencies: [
                "DigitTensor", "DigitCheckpoint", "DigitImage", "DigitNN", "DigitModels",
                "DigitMetrics", "DigitReports", "DigitSuites",
            ]),
        .executableTarget(
            name: "DigitBenchCLI",
            dependencies: ["DigitBench", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: - Implementation details
        .target(
            name: "_DigitTestSupport",
            dependencies: ["DigitTensor", "DigitCheckpoint"],
            path: "Tests/_DigitTestSupport"),

        // MARK: - Test bundles (fixtures are read from ../shared/fixtures at run time)
        .testTarget(name: "DigitTensorTests", dependencies: ["DigitTensor", "_DigitTestSupport"]),
        .testTarget(name: "DigitCheckpointTests", dependencies: ["DigitCheckpoint", "_DigitTestSupport"]),
        .testTarget(name: "DigitImageTests", dependencies: ["DigitImage", "DigitCheckpoint", "_DigitTestSupport"]),
        .testTarget(name: "DigitNNTests", dependencies: ["DigitNN", "_DigitTestSupport"]),
        .testTarget(name: "DigitModelsTests", dependencies: ["DigitModels", "_DigitTestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "DigitMetricsTests", dependencies: ["DigitMetrics", "DigitCheckpoint", "DigitNN", "_DigitTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(name: "DigitReportsTests", dependencies: ["DigitReports", "_DigitTestSupport"]),
        .testTarget(name: "DigitSuitesTests", dependencies: ["DigitSuites", "_DigitTestSupport"]),
        .testTarget(
            name: "DigitBenchCLITests",
            dependencies: ["DigitBenchCLI", "DigitBench", "_DigitTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
