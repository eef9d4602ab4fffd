// node-gyp-build ships no type declarations; this is the one function src/netlink/native.ts uses.
declare module 'node-gyp-build' {
  interface NodeGypBuild {
    (directory: string): unknown;
    /** The path of the addon build/Release or prebuilds/<platform>-<arch> holds; throws if none fits. */
    resolve(directory: string): string;
  }
  const nodeGypBuild: NodeGypBuild;
  export default nodeGypBuild;
}
