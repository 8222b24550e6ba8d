/**
 * The implementation-dag policy pack: `pulumi preview --policy-pack policy` (or `pulumi up`) fails
 * on any change that breaks one of the project's invariants. The policies live in `policies.ts`.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("implementation-dag", { policies });
