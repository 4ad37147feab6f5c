// Anchor receipts shown with a link to the chain: a block explorer's page of the transaction when the chain id is
// one whose explorer the UI knows, else the transaction hash as text (a development chain, a private network).
import { h } from "./dom.js";
import { shortHash, timestamp } from "./fmt.js";

// EIP-155 chain id -> its public explorer. Only these: a link the UI builds is to a site it knows.
export const EXPLORERS = new Map([
  [1, "https://etherscan.io"],
  [10, "https://optimistic.etherscan.io"],
  [137, "https://polygonscan.com"],
  [8453, "https://basescan.org"],
  [17000, "https://holesky.etherscan.io"],
  [42161, "https://arbiscan.io"],
  [80002, "https://amoy.polygonscan.com"],
  [11155111, "https://sepolia.etherscan.io"],
]);

const TX = /^0x[0-9a-fA-F]{64}$/;

export function transactionLink(chainId, txHash) {
  const explorer = EXPLORERS.get(chainId);
  if (!TX.test(String(txHash))) return h("code", {}, String(txHash));
  if (!explorer) return h("code", { class: "tx", title: `chain ${chainId}: no known explorer` }, txHash);
  return h("a", { href: `${explorer}/tx/${txHash}`, class: "tx", rel: "noopener noreferrer", target: "_blank" },
    h("code", {}, txHash));
}

// What a receipt's details say, by backend; a backend the UI does not know shows its details as they are.
export function receiptWhere(receipt) {
  const d = receipt.details || {};
  switch (receipt.backend) {
    case "ethereum":
      return h("span", {}, `chain ${d.chain_id}, block ${d.block_number}, tx `, transactionLink(d.chain_id, d.tx_hash),
        " · contract ", shortHash(d.contract, 10));
    case "localchain":
      return h("span", {}, `local chain entry ${d.entry ? d.entry.index : "?"} (the signer's own file)`);
    case "tsa":
      return h("span", {}, "time-stamp token" + (d.tsa ? ` from ${d.tsa}` : ""));
    default:
      return h("code", {}, JSON.stringify(d).slice(0, 200));
  }
}

export function receiptTime(receipt) {
  const d = receipt.details || {};
  if (receipt.backend === "ethereum" && Number.isInteger(d.block_time)) {
    return h("span", {}, "block time ", timestamp(new Date(d.block_time * 1000).toISOString().replace(".000Z", ".000000Z")));
  }
  return h("span", {}, "obtained ", timestamp(receipt.timestamp));
}
