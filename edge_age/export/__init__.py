"""Export stage (torch): checkpoint -> ONNX / TFLite files (fp32 and int8) + model card."""
