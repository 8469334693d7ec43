/// A setting changed when a run is resumed. Each change that differs from the checkpoint's is
/// recorded in the model's provenance (`schedule_changes`, in order, with where the run stood),
/// so the run stays reproducible.
public enum ScheduleChange: Sendable {
    /// Continue to this many epochs: the cosine schedule stretches over the new total from the
    /// step reached.
    case epochs(Int)
    /// Continue at another input size (width, height): the weights do not depend on it,
    /// CoordConv's coordinates are normalised to the input, and the heatmaps follow the input.
    case input(width: Int, height: Int)
    case zoom(min: Double, max: Double)
    case secondPass(Double)
    /// The next epoch is the first candidate for the best model.
    case bestBy(TrainingSettings.BestBy)
    case flipTest(Bool)
    case averageDecay(Double)
}

extension Checkpoint {
    /// Applies `change` if it differs from the run's setting, and records it.
    public mutating func apply(_ change: ScheduleChange) throws {
        let here = "epoch \(epoch + 1) step \(stepInEpoch + 1)"
        switch change {
        case .epochs(let epochs):
            guard epochs != settings.epochs else { return }
            let reached = epoch + (stepInEpoch > 0 ? 1 : 0)
            guard epochs >= max(reached, 1) else {
                throw InputError.invalid("\(epochs) epochs: the checkpoint has already reached epoch \(reached)")
            }
            record("\(settings.epochs) -> \(epochs) epochs at \(here)")
            settings.epochs = epochs
        case .input(let width, let height):
            let architecture = model.architecture
            guard [width, height] != [architecture.inputWidth, architecture.inputHeight] else { return }
            if let crop = settings.crop, crop[0] > width || crop[1] > height {
                throw InputError.invalid(
                    "an input of \(width)x\(height) is smaller than the run's crop (\(crop[0])x\(crop[1]))")
            }
            record("input \(architecture.inputWidth)x\(architecture.inputHeight) -> \(width)x\(height) at \(here)")
            model.architecture.inputWidth = width
            model.architecture.inputHeight = height
        case .zoom(let low, let high):
            let augmentation = settings.augmentation
            guard [low, high] != [augmentation.minZoom, augmentation.maxZoom] else { return }
            record("zoom \(augmentation.minZoom)-\(augmentation.maxZoom) -> \(low)-\(high) from \(here)")
            (settings.augmentation.minZoom, settings.augmentation.maxZoom) = (low, high)
        case .secondPass(let scale):
            guard scale != model.secondPassScale else { return }
            record("second pass \(scale)x from \(here)")
            model.secondPassScale = scale
        case .bestBy(let bestBy):
            guard bestBy != (settings.bestBy ?? .error) else { return }
            record("best by \(bestBy.rawValue) from epoch \(epoch + 1)")
            settings.bestBy = bestBy
            (bestError, bestPCK) = (nil, nil)
        case .flipTest(let flipTest):
            guard flipTest != model.flipTest else { return }
            record("flip test \(flipTest ? "on" : "off") from epoch \(epoch + 1)")
            model.flipTest = flipTest
        case .averageDecay(let decay):
            guard decay != settings.averageDecay else { return }
            record("weights averaged (decay \(decay)) from \(here)")
            settings.averageDecay = decay
        }
    }

    private mutating func record(_ change: String) {
        let earlier = model.provenance["schedule_changes"]
        model.provenance["schedule_changes"] = earlier.map { $0 + "; " + change } ?? change
    }
}
