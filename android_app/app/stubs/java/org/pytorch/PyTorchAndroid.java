// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/pytorch@v1.13.1 (what org.pytorch:pytorch_android_lite:1.13.1 is built from)
//   android/pytorch_android/src/main/java/org/pytorch/PyTorchAndroid.java
// Read from the v1.13.1 release source (Debian bookworm pytorch_1.13.1+dfsg.orig.tar.xz).
// Its static initializer loads libpytorch_jni_lite.so, whose JNI_OnLoad (pytorch_jni_lite.cpp)
// calls common_registerNatives() (pytorch_jni_common.cpp), which registers nativeSetNumThreads on
// Lorg/pytorch/PyTorchAndroid; (caffe2::pthreadpool()->set_thread_count): so setNumThreads
// works in the lite AAR. There is no LitePyTorchAndroid class at v1.13.1.
// setNumThreads throws IllegalArgumentException for numThreads < 1.
package org.pytorch;

public final class PyTorchAndroid {
  public static void setNumThreads(int numThreads) {
    throw new UnsupportedOperationException();
  }
}
