"""The fake engine stands in for a GPU build: vLLM's platform reports CUDA, not CPU."""


class _CudaPlatform:
    @staticmethod
    def is_cpu():
        return False


current_platform = _CudaPlatform()
