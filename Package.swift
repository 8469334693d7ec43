// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-keypoints",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "KeypointKit", targets: ["KeypointKit"]),
        .executable(name: "keypoints", targets: ["keypoints"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(
            name: "CLibPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]
        ),
        .systemLibrary(
            name: "CLibJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg-dev"]), .brew(["jpeg-turbo"])]
        ),
        // FFmpeg's libraries, for the video shim.
        .systemLibrary(name: "CLibAVFormat", pkgConfig: "libavformat", providers: [.apt(["libavformat-dev"]), .brew(["ffmpeg"])]),
        .systemLibrary(name: "CLibAVCodec", pkgConfig: "libavcodec", providers: [.apt(["libavcodec-dev"]), .brew(["ffmpeg"])]),
        .systemLibrary(name: "CLibAVUtil", pkgConfig: "libavutil", providers: [.apt(["libavutil-dev"]), .brew(["ffmpeg"])]),
        .systemLibrary(name: "CLibSwScale", pkgConfig: "libswscale", providers: [.apt(["libswscale-dev"]), .brew(["ffmpeg"])]),
        .target(name: "CImageShims", dependencies: ["CLibPNG", "CLibJPEG"]),
        .target(name: "CVideoShims", dependencies: ["CLibAVFormat", "CLibAVCodec", "CLibAVUtil", "CLibSwScale"]),
        .target(name: "CConvKernels"),
        // The shipped models, Models/*.safetensors, embedded in the binary.
        .target(name: "CBundledModels"),
        .target(name: "KeypointKit", dependencies: ["CImageShims", "CVideoShims", "CConvKernels", "CBundledModels"]),
        .executableTarget(
            name: "keypoints",
            dependencies: [
                "KeypointKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Tests, one target per module; TestSupport holds what they share (fixtures, the CLI runner).
        .target(name: "TestSupport", dependencies: ["KeypointKit", "CImageShims"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelTests", dependencies: ["KeypointKit", "CConvKernels", "TestSupport"]),
        .testTarget(name: "ImageTests", dependencies: ["KeypointKit", "CImageShims", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["KeypointKit", "CConvKernels", "CBundledModels", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["KeypointKit", "TestSupport"]),
        .testTarget(name: "VideoTests", dependencies: ["KeypointKit", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["KeypointKit", "CConvKernels", "TestSupport"]),
        .testTarget(
            name: "CommandLineTests", dependencies: ["KeypointKit", "TestSupport", .target(name: "keypoints")]),
    ],
    swiftLanguageModes: [.v6]
)
