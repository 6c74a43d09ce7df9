/** Stratus' coded error base (defined in @stratus/model, which every package depends on). */
export { CodedError } from '@stratus/model';
