import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench linear-probe`: linear classifiers on frozen features, one per layer.
    struct LinearProbeCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "linear-probe",
            abstract: "Linear-probe accuracy (top-1/top-5 per layer and the best layer) of frozen features.",
            discussion: """
                Features come from .npy files (--train-features X.npy --train-labels y.npy --val-features … \
                --val-labels …), shaped (N, D) for one layer or (N, L, D) for L layers; labels are 1-D \
                integer class indices. Or extract them: --model digit-base|digit-large --train DIR --val DIR \
                (ImageFolder trees) tokenises every image with the DiGIT tokenizer on the validation path \
                (Resize 256 bicubic + CenterCrop 224) and mean-pools the stage-1 GPT's inner_states[n] over \
                all 257 positions for n = 0 … layers-1, as model_linearprobe.py does (train images are not \
                augmented: the features are computed once). --checkpoint is the stage-1 file (it holds the \
                tokenizer too). --model dinov2-vitb14-reg4|dinov2-vitl14-reg4 takes dinov2's linear-eval \
                features instead: Resize 256 + CenterCrop 224, then for each block in --layers (all, or \
                indices; -1 = last) the final norm of its tokens pooled by --pool cls|mean. \
                --model llamagen-gpt-*|openmagvit2-ar-* tokenises each image with the generator's tokenizer \
                (LlamaGen VQ-16 after ADM center_crop_arr; Open-MAGVIT2 LFQ after bilinear Resize + \
                CenterCrop 256) and runs the GPT teacher-forced on [null class, all image tokens] (the \
                unconditional class CFG uses: no label is given); each block in --layers gives its \
                output (before the final norm) pooled by --pool mean (all positions, default) or last. \
                --cache DIR keeps the features as .npy keyed by model, the checkpoint's SHA-256 and the images' content.

                --classifier lbfgs (default): multinomial logistic regression on standardised features \
                (scikit-learn's LogisticRegression(solver="lbfgs") objective and stopping rules; \
                --sklearn-stopping 1.3 stops where scikit-learn ≤ 1.3 does, whose tol applies to the summed loss), C chosen \
                on a stratified 10 % held-out split of train over --c-grid, then refit on all of train; \
                --c fixes C.
                --classifier sgd: DiGIT's recipe (SGD lr 0.4, momentum 0.9, no weight decay, cosine \
                schedule, batch 1024, --steps updates; upstream runs 100000). On cached features there is \
                no augmentation: upstream re-augments images (RandomResizedCrop + flip) every epoch.

                The best layer is the one with the highest val top-1 (ties: earlier layer) — the number \
                DiGIT reports. Progress goes to stderr; the table to stdout; --output writes JSON.
                """)

        @Option(help: "Train features .npy, (N, D) or (N, L, D).") var trainFeatures: String?
        @Option(help: "Train labels .npy, (N) integers.") var trainLabels: String?
        @Option(help: "Val features .npy, (M, D) or (M, L, D).") var valFeatures: String?
        @Option(help: "Val labels .npy, (M) integers.") var valLabels: String?

        @Option(help: "Extract features with this model: digit-base or digit-large (DiGIT's stage-1 GPT), dinov2-vitb14-reg4 or dinov2-vitl14-reg4, llamagen-gpt-{b,l,xl,xxl,3b} or openmagvit2-ar-{b,l,xl} (their class-conditional GPTs, run with the null class).") var model: String?
        @Option(help: "Checkpoint for --model: DiGIT's stage-1 file, dinov2_vit{b,l}14_reg4_pretrain.pth, LlamaGen's GPT file or Open-MAGVIT2's AR_256_*.ckpt (default: the registry's file under $DIGIT_BENCH_HOME/weights).") var checkpoint: String?
        @Option(help: "LlamaGen: the VQ-16 tokenizer checkpoint (default: the registry's vq_ds16_c2i.pt).") var vqCheckpoint: String?
        @Option(help: "LlamaGen: the GPT's image size, 256 or 384 (default: the first released size).") var imageSize: Int?
        @Option(help: "Pooling. DINOv2: cls (class token, default) or mean (patch average) of each block's normed tokens. LlamaGen/Open-MAGVIT2 GPTs: mean (default; over the null-class slot and all image tokens) or last (the last position).") var pool: String?
        @Option(help: "DINOv2: position-embedding interpolation, hub (dinov2's own, default) or digit.") var posEmbed: String = "hub"
        @Option(help: "real, or seeded (digit-base stand-in weights: a dry run, not real accuracy).") var weights: String = "real"
        @Option(help: "Directory caching extracted features (.npy), reused while model, checkpoint content and image content match.") var cache: String?
        @Option(help: "Images per extraction batch.") var extractBatch: Int = 8
        @Option(help: "Train image directory (ImageFolder) for --model.") var train: String?
        @Option(help: "Val image directory (ImageFolder) for --model.") var val: String?

        @Option(parsing: .unconditional, help: "Layers to probe: all, or comma-separated indices into the features' layer axis (DINOv2: the blocks to extract).")
        var layers: String = "all"
        @Option(help: "lbfgs (logistic regression, default) or sgd (upstream recipe).")
        var classifier: String = "lbfgs"

        // L-BFGS
        @Option(name: .customLong("c"), help: "Fixed inverse regularisation C (scikit-learn semantics); default: choose on held-out split.")
        var c: Double?
        @Option(help: "Comma-separated C candidates for the held-out choice.") var cGrid: String = "0.001,0.01,0.1,1,10"
        @Option(help: "Fraction of train (per class) held out to choose C.") var heldOut: Double = 0.1
        @Option(help: "L-BFGS iterations per fit (scikit-learn max_iter).") var maxIter: Int = 100
        @Option(help: "Gradient tolerance max|g| (scikit-learn tol).") var tol: Double = 1e-4
        @Option(help: "Stop as this scikit-learn does at the same tol: 1.4 (default; ≥ 1.4: max|g| of the mean loss ≤ tol, ftol 64·eps) or 1.3 (≤ 1.3: of the summed loss, n× stricter, ftol 2.2e-9).")
        var sklearnStopping: String = "1.4"
        @Option(help: "float32 (sgemm, default) or float64 (dgemm) feature products.") var precision: String = "float32"

        // SGD
        @Option(help: "SGD updates (upstream max_update = 100000).") var steps: Int = 100_000
        @Option(help: "SGD peak learning rate (cosine to 0).") var lr: Double = 0.4
        @Option(help: "SGD batch size.") var batchSize: Int = 1024
        @Option(help: "SGD momentum.") var momentum: Double = 0.9
        @Flag(help: "Standardise features for the SGD head too (upstream feeds raw features).") var standardize = false

        @Option(help: "Seed of the held-out split / SGD init and batch order.") var seed: UInt32 = 0
        @Option(name: .shortAndLong, help: "Write the result as JSON to this file.") var output: String?

        func featureSource() throws -> ProbeFeatureSource {
            if let model {
                guard let train, let val else { throw ValidationError("--model needs --train DIR and --val DIR (ImageFolder trees)") }
                guard extractBatch > 0 else { throw ValidationError("--extract-batch must be positive") }
                if DINOv2Model(rawValue: model) != nil {
                    return try DINOv2ProbeFeatureSource.make(model: model, weights: weights, checkpoint: checkpoint, layers: layers, pool: pool ?? "cls",
                                                             posEmbed: posEmbed, train: train, val: val, batch: extractBatch, cache: cache)
                }
                if GPTProbeFeatureSource.handles(model) {
                    return try GPTProbeFeatureSource.make(model: model, weights: weights, checkpoint: checkpoint, vqCheckpoint: vqCheckpoint,
                                                          imageSize: imageSize, layers: layers, pool: pool ?? "mean", train: train, val: val,
                                                          batch: extractBatch, cache: cache)
                }
                if pool != nil || vqCheckpoint != nil || imageSize != nil {
                    throw ValidationError("--pool, --vq-checkpoint and --image-size are not options of \(model)")
                }
                return try DiGITProbeFeatureSource.make(model: model, weights: weights, checkpoint: checkpoint, train: train, val: val,
                                                        batch: extractBatch, cache: cache)
            }
            if checkpoint != nil || train != nil || val != nil { throw ValidationError("--checkpoint, --train and --val need --model") }
            guard let trainFeatures, let trainLabels, let valFeatures, let valLabels else {
                throw ValidationError("give --train-features, --train-labels, --val-features and --val-labels (or --model)")
            }
            let url = { (p: String) in URL(fileURLWithPath: p) }
            return NPYProbeFeatureSource(trainFeatures: url(trainFeatures), trainLabels: url(trainLabels),
                                         valFeatures: url(valFeatures), valLabels: url(valLabels))
        }

        func options() throws -> LinearProbe.Options {
            var o = LinearProbe.Options()
            o.classifier = try ProbeClassifier.parse(classifier)
            o.logistic.c = c
            o.logistic.cGrid = try cGrid.split(separator: ",").map {
                guard let v = Double($0.trimmingCharacters(in: .whitespaces)), v > 0 else { throw ValidationError("--c-grid: bad value '\($0)'") }
                return v
            }
            guard heldOut > 0 && heldOut < 1 else { throw ValidationError("--held-out must be in (0, 1)") }
            o.logistic.heldOutFraction = heldOut
            o.logistic.seed = seed
            o.logistic.lbfgs.maxIterations = maxIter
            o.logistic.lbfgs.gradientTolerance = tol
            guard let stopping = LogisticRegression.SklearnStopping(scikitLearnVersion: sklearnStopping) else {
                throw ValidationError("--sklearn-stopping: a scikit-learn version such as 1.4 or 1.3.2")
            }
            o.logistic.stopping = stopping
            guard let p = LogisticRegression.Precision(rawValue: precision) else { throw ValidationError("--precision must be float32 or float64") }
            o.logistic.precision = p
            o.sgd.steps = steps
            o.sgd.learningRate = lr
            o.sgd.batchSize = batchSize
            o.sgd.momentum = momentum
            o.sgd.seed = seed
            o.standardizeSGD = standardize
            return o
        }

        func run() throws {
            let options = try options()
            let source = try featureSource()
            let say: (String) -> Void = { FileHandle.standardError.write(Data("linear-probe: \($0)\n".utf8)) }
            let (trainSet, valSet) = try source.load(progress: say)
            let selected: [Int]?
            if layers == "all" || source is DINOv2ProbeFeatureSource || source is GPTProbeFeatureSource {  // these extract just the --layers blocks
                selected = nil
            } else {
                selected = try layers.split(separator: ",").map {
                    guard let l = Int($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--layers: bad index '\($0)'") }
                    return l
                }
            }
            say("train \(trainSet.count) x \(trainSet.layers) layers x \(trainSet.dimension), val \(valSet.count), \(trainSet.classCount) classes")
            if options.classifier == .sgd {
                say("note: no augmentation on cached features (upstream re-augments images every epoch)")
            }
            let start = Date()
            let result = try LinearProbe.run(
                train: trainSet, val: valSet, layers: selected, layerNames: source.layerNames(count: trainSet.layers),
                options: options, progress: say)
            print("linear probe: \(options.classifier.rawValue) on \(source.description)")
            if options.classifier == .sgd {
                print("note: SGD on cached features — no RandomResizedCrop/flip augmentation (upstream augments every epoch)")
            }
            let width = max(10, result.layers.map(\.name.count).max() ?? 0)  // names in full (inner_states[15], spatial_blocks[23])
            print("layer".padding(toLength: width, withPad: " ", startingAt: 0) + "   top-1 %   top-5 %")
            for (i, r) in result.layers.enumerated() {
                print(r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                      + String(format: " %8.2f  %8.2f", r.top1, r.top5) + (i == result.best ? "   <- best" : ""))
            }
            let best = result.layers[result.best]
            print("best: \(best.name), " + String(format: "top-1 %.2f %%, top-5 %.2f %%", best.top1, best.top5) + " (highest val top-1, as DiGIT reports)")
            for note in best.notes { print("  \(note)") }
            print(String(format: "time %.1f s", Date().timeIntervalSince(start)))
            if let output {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(encoder.encode(result), to: URL(fileURLWithPath: output))
            }
        }
    }
}
