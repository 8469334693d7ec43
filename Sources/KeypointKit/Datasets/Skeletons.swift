/// Skeletons for keypoint sets whose labels do not carry one (a simple CSV, a DeepLabCut table).
public enum Skeletons {
    /// The 14 joints of LSP / LSPet in their order; r/l are the person's own right and left.
    public static let lspNames = [
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
        "l_elbow", "l_wrist", "neck", "head_top",
    ]

    /// LSP's limbs: legs, arms, hips to shoulders, the hips and the shoulders joined, shoulders
    /// to neck, neck to head top (indices into `lspNames`).
    public static let lsp = [
        [0, 1], [1, 2], [3, 4], [4, 5], [6, 7], [7, 8], [9, 10], [10, 11], [2, 8], [3, 9], [2, 3], [8, 12], [9, 12],
        [12, 13],
    ]

    /// The skeleton for `names` when they are a set known here (LSP's 14 joints), else none.
    public static func standard(for names: [String]) -> [[Int]] {
        names == lspNames ? lsp : []
    }
}
