/**
 * "train": the forward pass of a training step (layers with batch statistics use the batch's and
 * advance their moving averages); "predict": inference, the same output for a row whatever batch
 * it is in (the moving averages).
 */
export type ForwardMode = "train" | "predict";
