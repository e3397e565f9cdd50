from vllm import record


def destroy_model_parallel():
    record("destroy_model_parallel")


def destroy_distributed_environment():
    record("destroy_distributed_environment")
