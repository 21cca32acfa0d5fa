# node-gyp build of the addon. The kernel sources come from native/sources.txt, the one list that
# CMakeLists.txt reads too. No -m flags: each SIMD function carries its own target attribute.
{
  "targets": [
    {
      "target_name": "kintsugi",
      "sources": [
        "native/src/addon.cpp",
        "<!@(node -p \"require('fs').readFileSync('native/sources.txt','utf8').split(/\\r?\\n/).filter(l=>l&&!l.startsWith('#')).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "KINTSUGI_ADDON_VERSION=\"<!(node -p \"require('./package.json').version\")\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-ffp-contract=off", "-O3"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-ffp-contract=off"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}
