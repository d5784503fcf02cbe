"""placeholder"""
def load_policy(*a, **k): raise NotImplementedError
class TorchPolicy: pass
